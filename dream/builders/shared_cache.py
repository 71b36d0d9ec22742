"""The per-machine compiler cache (GOCACHE, zig's cache, staged SDKs: the tool cache dir) and who writes it.

Only dream's warm-up writes it: it compiles dream's own sources (languages.WARM_SOURCES) in the sandbox
with the cache writable. A project's build sees it layered (sandbox.py): it reads what the warm-up
compiled, and what it writes lands in a layer that goes with the step. So a build stays as fast as with
a shared cache for everything the warm-up covers, and no project can change what another project links.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from dream.builders.env import step_env, zig_cache_name
from dream.builders.languages import GO_WHOLE_SDK_WARM_TAG, WARM_SOURCES, CompileError, sdk_digest
from dream.builders.paths import tool_cache_dir
from dream.builders.runner import run_step
from dream.builders.sandbox import current_sandbox
from dream.builders.toolchains import FINDERS

# Languages whose compilers keep a cache (the others build without one).
CACHED_LANGS = frozenset({"go", "c", "zig", "rust", "assemblyscript"})
MARKERS = "warmed"  # one file per language and toolchain: the toolchain and SDK its warm-up compiled
WARM_TIMEOUT = 900.0  # a cold Go std or wasi-libc takes a minute or two on a slow machine
# Go re-stamps a cache entry it uses once it is an hour old; through the layer that copies the entry
# into the step's layer. Re-stamping the shared entries this often spares every build that copy.
FRESH_SECONDS = 1800.0
LOCK_POLL = 0.1  # seconds between looks at another process's warm-up lock


def _marker(lang: str) -> Path:
    # One marker per toolchain location: compilers key their cache entries by the paths of their own
    # sources (zig's lib dir, GOROOT), so a toolchain in another virtualenv finds nothing the first warmed.
    digest = hashlib.sha256(warm_key(lang).encode()).hexdigest()[:16]
    return tool_cache_dir() / MARKERS / f"{lang}-{digest}"


def warm_key(lang: str) -> str:
    chain = FINDERS["zig" if lang == "c" else lang]()
    where = str(chain.path.resolve()) if chain.path is not None else "nowhere"
    # The toolchain's file identity too: a toolchain installed again at the same path (a new venv in the
    # same place) has new files, and zig's cache manifests name its library files by inode and time, so
    # entries the old installation compiled miss for the new one, which a build cannot write back.
    with contextlib.suppress(OSError):
        st = os.stat(where)
        where += f" ({st.st_ino}:{st.st_mtime_ns})"
    # The cache folder is in the key: a warm-up into another folder (zig's was once one for every
    # installation) warms nothing here.
    folder = f" cache {zig_cache_name()}" if lang in ("c", "zig") else ""
    return f"{chain.name} {chain.version} at {where} sdk {sdk_digest(lang)[:16]}{folder}"


def is_warm(lang: str) -> bool:
    try:
        return _marker(lang).read_text() == warm_key(lang)
    except OSError:
        return False


@contextlib.contextmanager
def _warming(lang: str, *, timeout: float, cancel: threading.Event | None) -> Iterator[None]:
    """Hold the machine-wide lock on warming `lang`: two processes (two monkeys, two test workers)
    compiling into the same cache at once break each other's archives."""
    path = tool_cache_dir() / MARKERS / f".{lang}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with open(path, "a") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if cancel is not None and cancel.is_set():
                    raise CompileError(f"warming {lang} was cancelled") from None
                if time.monotonic() > deadline:
                    raise CompileError(
                        f"another process has been warming {lang} for over {timeout:.0f}s (lock {path})"
                    ) from None
                time.sleep(LOCK_POLL)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def warm(
    lang: str,
    *,
    log: Callable[[str], None] = print,
    timeout: float = WARM_TIMEOUT,
    cancel: threading.Event | None = None,
    again: bool = True,
) -> None:
    """Compile dream's warm-up sources for `lang` into the shared cache; CompileError if that fails.
    With `again=False`, nothing is done when the cache is already warm (another process may have warmed
    it while this one waited for the lock)."""
    with _warming(lang, timeout=timeout, cancel=cancel):
        if again or not is_warm(lang):
            _warm(lang, log=log, timeout=timeout, cancel=cancel)


def _warm(
    lang: str,
    *,
    log: Callable[[str], None],
    timeout: float,
    cancel: threading.Event | None,
) -> None:
    files = WARM_SOURCES[lang]
    sandbox = current_sandbox()  # SandboxUnavailable propagates: no sandbox, no compiler run
    cache = tool_cache_dir() if lang in CACHED_LANGS else None
    with tempfile.TemporaryDirectory(prefix="dream-warm-") as tmp:
        work = Path(tmp)
        src, out = work / "src", work / "out"
        out.mkdir()
        for name, text in files.items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_text(text)
        script = work / "warm.sh"
        step = f'"$DREAM_PYTHON" -m dream.builders.step {lang} warm'
        if lang == "go":
            # The warm-up source never names Url, so it builds the SDK without net/url (what most
            # functions get); a second run with a tag of its own builds the whole SDK (what the others get).
            step = f'{step} && GOFLAGS="$GOFLAGS -tags={GO_WHOLE_SDK_WARM_TAG}" {step}'
        script.write_text(f"exec {step}\n" if lang != "go" else f"{step}\n")
        lines: list[str] = []

        def wrap(argv: list[str], env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
            if sandbox is None:
                return argv, dict(env)
            return sandbox.command(argv, env=env, work=work, cwd=src, cache=cache, cache_writable=True)

        run = run_step(
            script,
            cwd=src,
            env=step_env(work, src, out),
            timeout=timeout,
            on_line=lines.append,
            cancel=cancel,
            wrap=wrap,
        )
        if run.cancelled:
            raise CompileError(f"warming {lang} was cancelled")
        if run.returncode is None:
            raise CompileError(f"warming {lang} did not finish within {timeout:.0f}s")
        if run.returncode != 0:
            raise CompileError(f"warming {lang} failed:\n" + "\n".join(lines[-20:]))
    marker = _marker(lang)
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp_marker = marker.with_name(f".{lang}.{os.getpid()}.{threading.get_ident()}")
    tmp_marker.write_text(warm_key(lang))
    tmp_marker.replace(marker)
    log(f"warmed the shared {lang} compiler cache")


def ensure_warm(
    lang: str, *, log: Callable[[str], None], timeout: float, cancel: threading.Event | None
) -> None:
    """Before a project's build: warm the shared cache if this toolchain and SDK never were."""
    if lang not in CACHED_LANGS:
        return
    if not is_warm(lang):
        log(f"warming the shared {lang} compiler cache with dream's own sources (once per toolchain) ...")
        warm(lang, log=log, timeout=timeout, cancel=cancel, again=False)
    if lang == "go":
        _keep_fresh(tool_cache_dir() / "go-build")


def _keep_fresh(root: Path) -> None:
    stamp = tool_cache_dir() / MARKERS / ".fresh"
    now = time.time()
    try:
        if now - stamp.stat().st_mtime < FRESH_SECONDS:
            return
    except OSError:
        pass
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):  # trimmed by Go meanwhile
                os.utime(os.path.join(dirpath, name), (now, now), follow_symlinks=False)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.touch()
