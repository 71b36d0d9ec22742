"""Build steps run in a bubblewrap sandbox: no network, the job's folder the only writable place, the
toolchains and the Python running dream read-only, the dream home and the user's files not there at all.

The per-machine compiler caches are layered (overlayfs): a build reads the shared cache, which only
dream's own warm-up writes, and its writes land in a tmpfs that goes with the step, so no project can
plant compiled code in another project's build. See docs/security.md (## Builds).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dream.builders.paths import tool_cache_dir, tools_dir
from dream.builders.toolchains import (
    DEFAULT_RUSTC,
    RUSTC_ENV,
    go_toolchain,
    node_path,
    zig_toolchain,
)
from dream.settings import dream_home

SANDBOX_ENV = "DREAM_BUILD_SANDBOX"
SANDBOX_OFF = "off"
INSTALL_COMMAND = "apt-get install -y bubblewrap"
DOCS = "docs/security.md"
NOTE = (
    "the build ran in a sandbox: no network; only the job's folder is writable; "
    f"the dream home and your files are not visible; see {DOCS}"
)
OPT_OUT_WARNING = (
    f"warning: {SANDBOX_ENV}={SANDBOX_OFF}: this build runs WITHOUT a sandbox, with the network and every "
    f"file the daemon's user can reach; build only projects you trust ({DOCS})"
)
PROBE_TIMEOUT = 30.0
# Mounted read-only when present: the system's programs and libraries (merged-/usr symlinks stay symlinks).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Only what programs need from /etc to start (dynamic linker, Debian alternatives, user names);
# the rest of /etc (ssh host keys, /etc/shadow, ...) is not there.
ETC_ENTRIES = (
    "alternatives",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "passwd",
    "group",
    "nsswitch.conf",
    "localtime",
)
# Runs in the new user+mount namespace made by `unshare` ($1, $2: mount and mkdir; $3: the shared cache;
# $4: an empty dir): layers a tmpfs over the shared cache at $4/merged, then becomes bwrap. The tmpfs
# (rather than a dir on disk) works whatever filesystem the job's folder is on (an overlay cannot write
# onto another overlay, as in a container) and vanishes with the step. Exit code 125 if it cannot mount.
_LAYER_SCRIPT = (
    '"$1" -t tmpfs dream-cache-layer "$4" && "$2" "$4/upper" "$4/work" "$4/merged" '
    '&& "$1" -t overlay dream-cache -o "lowerdir=$3,upperdir=$4/upper,workdir=$4/work" "$4/merged" '
    "|| exit 125\n"
    'shift 4\nexec "$@"\n'
)
# The environment of the programs that set the sandbox up (unshare, sh, mount, bwrap). Never the step's:
# a project's `environment.variables` (LD_PRELOAD, PATH, ...) must not reach code outside the sandbox.
HOST_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


class SandboxUnavailable(Exception):
    """Builds must be sandboxed, and bubblewrap is missing or cannot make a sandbox here."""


def sandbox_disabled() -> bool:
    """Whether the user opted out of the sandbox (DREAM_BUILD_SANDBOX=off); any other value but on/unset
    is refused, so a typo never turns the sandbox off."""
    value = os.environ.get(SANDBOX_ENV, "").strip().lower()
    if value in ("", "on"):
        return False
    if value == SANDBOX_OFF:
        return True
    raise SandboxUnavailable(
        f"{SANDBOX_ENV}={os.environ[SANDBOX_ENV]!r} is not understood: leave it unset (builds are "
        f"sandboxed) or set it to '{SANDBOX_OFF}' to build without a sandbox ({DOCS})"
    )


INSTALL_HINT = f"install it with: {INSTALL_COMMAND} (or run `bash scripts/toolchains` as root)"
OPT_OUT_HINT = (
    f"to build without a sandbox, only for projects you trust, start the daemon with "
    f"{SANDBOX_ENV}={SANDBOX_OFF} ({DOCS})"
)


def _under(path: Path, parents: Iterable[Path]) -> bool:
    return any(path == parent or parent in path.parents for parent in parents)


@functools.cache
def _system_args() -> tuple[str, ...]:
    args: list[str] = []
    for name in SYSTEM_DIRS:
        path = Path(name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), name]
        elif path.is_dir():
            args += ["--ro-bind", name, name]
    for entry in ETC_ENTRIES:
        args += ["--ro-bind-try", f"/etc/{entry}", f"/etc/{entry}"]
    return tuple(args)


def _toolchain_dirs() -> list[Path]:
    """Where the Python running dream, dream itself and the guest toolchains live (read-only)."""
    import dream

    dirs = [Path(p) for p in (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix)]
    dirs.append(Path(dream.__file__).parent)
    go, zig = go_toolchain(), zig_toolchain()
    if go.path is not None:
        dirs.append(go.path.parent.parent)  # GOROOT
    if zig.path is not None:
        dirs.append(zig.path.parent)  # zig and its lib/ (wasi-libc sources)
    # rustc's prefix holds its sysroot. Not rust_toolchain(): it runs rustc twice, which every first
    # build of a process would pay, whatever its language.
    rustc = Path(os.environ.get(RUSTC_ENV, DEFAULT_RUSTC))
    if rustc.is_file():
        dirs.append(rustc.resolve().parent.parent)
    node = node_path()
    if node is not None:
        dirs.append(node.resolve().parent.parent)
    dirs.append(tools_dir())
    return dirs


def readonly_dirs() -> list[Path]:
    """Every directory a build sees read-only, besides the system's (/usr, /lib, parts of /etc)."""
    home = os.environ.get("HOME", "")
    return list(_readonly_dirs(tools_dir(), dream_home(), home))


@functools.lru_cache(maxsize=8)
def _readonly_dirs(tools: Path, home: Path, user_home: str) -> tuple[Path, ...]:
    # Cached per setting that moves these dirs (the rest is fixed for the process): each step asks.
    system = [Path(name) for name in SYSTEM_DIRS if Path(name).is_dir() and not Path(name).is_symlink()]
    chosen: list[Path] = []
    wanted = _toolchain_dirs()
    for path in sorted({p.resolve() for p in wanted} | set(wanted), key=lambda p: len(p.parts)):
        if not path.is_dir() or _under(path, system) or _under(path, chosen):
            continue
        chosen.append(path)
    private = [home.resolve()]
    with contextlib.suppress(RuntimeError):  # no HOME and no passwd entry: nothing to guard
        if Path.home().resolve() != Path("/"):
            private.append(Path.home().resolve())
    for path in chosen:
        for secret in private:
            if secret == path or path in secret.parents:
                raise SandboxUnavailable(
                    f"the sandbox would have to show {path} to builds (it holds a toolchain or dream "
                    f"itself), and that would expose {secret}; install dream and its toolchains outside it"
                )
    return tuple(chosen)


def visible_dirs(work: Path) -> list[Path]:
    """What a build can see at all: used to tell a blocked path from one that is merely missing."""
    system = [Path(name) for name in SYSTEM_DIRS] + [Path("/etc") / entry for entry in ETC_ENTRIES]
    return [*system, *readonly_dirs(), work, tool_cache_dir(), Path("/proc"), Path("/dev")]


@dataclass(frozen=True)
class Sandbox:
    bwrap: str
    # util-linux's unshare, mount and mkdir, to layer the compiler cache; None: it cannot be layered here
    layer_tools: tuple[str, str, str] | None

    @property
    def layered(self) -> bool:
        return self.layer_tools is not None

    def command(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        work: Path,
        cwd: Path,
        cache: Path | None = None,
        cache_writable: bool = False,
    ) -> tuple[list[str], dict[str, str]]:
        """`argv` wrapped in the sandbox, and the environment to start that with (`env` is the step's,
        set inside). `cache` (the shared compiler cache) is seen through a writable layer that lives as
        long as the step, unless `cache_writable` (dream's own warm-up, which fills it)."""
        args = [self.bwrap, *_base_args()]
        for path in readonly_dirs():
            args += ["--ro-bind", str(path), str(path)]
        args += ["--bind", str(work), str(work)]
        prefix: list[str] = []
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
            if cache_writable or self.layer_tools is None:
                args += ["--bind", str(cache), str(cache)]
            else:
                unshare, mount, mkdir = self.layer_tools
                layer = _mount_point(work)
                prefix = [unshare, "--user", "--map-root-user", "--mount", "--", "/bin/sh", "-c"]
                prefix += [_LAYER_SCRIPT, "dream-sandbox", mount, mkdir, str(cache), str(layer)]
                args += ["--bind", str(layer / "merged"), str(cache)]
        args.append("--clearenv")
        for key, value in env.items():
            args += ["--setenv", key, value]
        # Last: nothing outside the binds above can be created (/tmp, /, the mount points' parents).
        args += ["--remount-ro", "/", "--chdir", str(cwd), "--", *argv]
        return [*prefix, *args], dict(HOST_ENV)


def _mount_point(work: Path) -> Path:
    """An empty dir for the cache layer. It is in the job's folder, which an earlier step could change:
    it is made again here, while no step runs, so it is a plain dir of ours (the mount stays private to
    the step's namespaces either way)."""
    layer = work / ".cache-layer"
    if layer.is_symlink() or (layer.exists() and not layer.is_dir()):
        layer.unlink()
    elif layer.is_dir():
        shutil.rmtree(layer)
    layer.mkdir()
    return layer


def _base_args() -> list[str]:
    return [
        "--unshare-all",  # user, pid, network (loopback included), ipc, uts, cgroup namespaces
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",  # bwrap keeps root's capabilities otherwise (and with them, remounting read-only mounts)
        "--hostname",
        "dream-build",
        *_system_args(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
    ]


def _run_probe(argv: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT,
        check=False,
    )


@functools.cache
def _can_layer(bwrap: str, tools: tuple[str, str, str], cache: Path) -> bool:
    """Whether `cache` can be layered here: overlayfs in a user namespace (Linux >= 5.11 unless root), on
    the cache's filesystem, with a path the mount options can hold (no ',' or ':')."""
    probe = cache / f".dream-layer-probe-{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="dream-sandbox-probe-") as tmp:
        work = Path(tmp)
        argv = ["/bin/sh", "-c", f'echo build > "{probe}"']
        try:
            command, env = Sandbox(bwrap, tools).command(argv, env=HOST_ENV, work=work, cwd=work, cache=cache)
            proc = _run_probe(command, env)
        except (OSError, subprocess.SubprocessError):
            return False
    if probe.exists():  # the write went through to the shared cache: no layer
        probe.unlink()
        return False
    return proc.returncode == 0


@functools.cache
def _check(bwrap: str) -> None:
    try:
        proc = _run_probe(
            [bwrap, *_base_args(), "--remount-ro", "/", "--", "/bin/sh", "-c", "exit 0"], HOST_ENV
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise SandboxUnavailable(
            f"builds run in a sandbox, but {bwrap} could not run ({exc}); {INSTALL_HINT}; {OPT_OUT_HINT}"
        ) from None
    if proc.returncode != 0:
        said = " ".join(proc.stderr.split()) or f"exit code {proc.returncode}"
        raise SandboxUnavailable(
            f"builds run in a sandbox, but bubblewrap cannot make one here: {said}. bwrap needs "
            "unprivileged user namespaces (sysctl user.max_user_namespaces > 0; on Debian 10 "
            "kernel.unprivileged_userns_clone=1; on Ubuntu 23.10+ kernel.apparmor_restrict_unprivileged_userns=0 "
            f"or an AppArmor profile for bwrap); {OPT_OUT_HINT}"
        )


def current_sandbox() -> Sandbox | None:
    """The sandbox to build in; None when the user opted out. SandboxUnavailable when there is none."""
    if sandbox_disabled():
        return None
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(
            f"builds run in a bubblewrap sandbox, but bwrap is not installed; {INSTALL_HINT}; {OPT_OUT_HINT}"
        )
    # Checked with a real sandbox once per process; only success is remembered (functools.cache keeps
    # no exception), so bwrap installed or allowed while dream runs is found at the next build.
    _check(bwrap)
    unshare, mount, mkdir = (shutil.which(name) for name in ("unshare", "mount", "mkdir"))
    tools = (unshare, mount, mkdir) if unshare and mount and mkdir else None
    layered = tools is not None and _can_layer(bwrap, tools, tool_cache_dir())
    return Sandbox(bwrap, tools if layered else None)
