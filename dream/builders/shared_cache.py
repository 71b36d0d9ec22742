"""The per-machine compiler cache (GOCACHE, zig's cache, staged SDKs: the tool cache dir) and who writes it.

Only dream's warm-up writes it: it compiles dream's own sources (languages.WARM_SOURCES) in the sandbox
with the cache writable. A project's build sees it layered (sandbox.py): it reads what the warm-up
compiled, and what it writes lands in a layer that goes with the step. So a build stays as fast as with
a shared cache for everything the warm-up covers, and no project can change what another project links.

A warm-up and the builds that read the cache never overlap (a build would see archives and manifests
half rewritten): a build holds the cache's lock shared until its steps end (`reading_shared_cache`), a
warm-up holds it exclusively (`warm`); either waits for the other, bounded and cancellable.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

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
LOCK_POLL = 0.1  # seconds between looks at a cache lock another process holds (a warm-up, a build)


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


# Languages whose compilers share one cache folder share its lock: a zig warm-up rewrites what C builds read.
CACHE_OF = {"c": "zig"}


def _lock_files(lang: str) -> tuple[Path, Path]:
    """The gate and the lock of `lang`'s cache. A warm-up holds both exclusively; a build holds the lock
    shared while its compilers read, and the gate only while it takes the lock: a warm-up that waits for
    running builds holds the gate, so builds that come later wait behind it instead of starving it."""
    folder = tool_cache_dir() / MARKERS
    folder.mkdir(parents=True, exist_ok=True)
    name = CACHE_OF.get(lang, lang)
    return folder / f".{name}.gate", folder / f".{name}.lock"


@dataclass(frozen=True)
class _Waiting:
    """Who waits for a cache lock, for what, and what ends the wait: for its log line and its errors."""

    waiter: str
    waited_for: str
    lock: Path
    fix: str

    def started(self) -> str:
        return f"waiting for {self.waited_for} (lock {self.lock}) ..."

    def cancelled(self) -> str:
        return f"{self.waiter} was cancelled while it waited for {self.waited_for} (lock {self.lock})"

    def timed_out(self, timeout: float, holders: list[int]) -> str:
        held = f", held by process {', '.join(map(str, holders))}" if holders else ""
        waited = f"{self.waiter} waited over {round(timeout, 1):g}s for {self.waited_for}"
        return f"{waited} (lock {self.lock}{held}); {self.fix}"


def _waiting(lang: str, lock: Path, *, exclusive: bool) -> _Waiting:
    cache = f"the shared {CACHE_OF.get(lang, lang)} compiler cache"
    if exclusive:
        return _Waiting(
            f"warming {lang}",
            f"builds reading {cache}, or another warm-up of it, to finish",
            lock,
            "let them finish or stop them, then warm again (dream doctor --warm)",
        )
    return _Waiting(
        f"the {lang} build",
        f"a warm-up of {cache} to finish",
        lock,
        "let the warm-up finish or stop it, then build again",
    )


def _take(
    fh: IO[str],
    mode: int,
    *,
    deadline: float,
    timeout: float,
    cancel: threading.Event | None,
    waiting: _Waiting,
    log: Callable[[str], None],
) -> None:
    """flock `fh` in `mode`, looking every LOCK_POLL seconds whether the wait was cancelled or ran out."""
    logged = False
    while True:
        try:
            fcntl.flock(fh, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if not logged:
                log(waiting.started())
                logged = True
            if cancel is not None and cancel.is_set():
                raise CompileError(waiting.cancelled()) from None
            if time.monotonic() > deadline:
                raise CompileError(waiting.timed_out(timeout, _lock_holders(fh))) from None
            time.sleep(LOCK_POLL)


def _lock_holders(fh: IO[str]) -> list[int]:
    """The processes holding a flock on `fh`'s file, from /proc/locks (empty where it cannot tell)."""
    st = os.fstat(fh.fileno())
    where = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        return []
    pids = set()
    for line in table.splitlines():
        fields = line.split()  # "1: FLOCK ADVISORY WRITE <pid> <dev:inode> 0 EOF"; waiters read "1: -> FLOCK"
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == where and fields[4].isdigit():
            pids.add(int(fields[4]))
    pids.discard(os.getpid())
    return sorted(pids)


@contextlib.contextmanager
def _cache_lock(
    lang: str,
    *,
    exclusive: bool,
    timeout: float,
    cancel: threading.Event | None,
    log: Callable[[str], None],
) -> Iterator[None]:
    """Hold `lang`'s cache machine-wide: exclusively to warm it (two warm-ups at once break each other's
    archives), shared to build with it (many builds at once; none while a warm-up rewrites what they read).
    The wait ends with a CompileError after `timeout` seconds or when `cancel` is set."""
    gate_path, lock_path = _lock_files(lang)
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    wait = functools.partial(
        _take,
        deadline=time.monotonic() + timeout,
        timeout=timeout,
        cancel=cancel,
        waiting=_waiting(lang, lock_path, exclusive=exclusive),
        log=log,
    )
    with open(gate_path, "a") as gate, open(lock_path, "a") as lock:
        # Unlocked explicitly: a process forked meanwhile shares these open files, and closing ours alone
        # would leave the lock held by it.
        wait(gate, mode)
        try:
            wait(lock, mode)
        except BaseException:
            fcntl.flock(gate, fcntl.LOCK_UN)
            raise
        if not exclusive:  # a build holds the gate only to get in: a warm-up waiting there goes next
            fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            fcntl.flock(gate, fcntl.LOCK_UN)


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
    with _cache_lock(lang, exclusive=True, timeout=timeout, cancel=cancel, log=log):
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


@contextlib.contextmanager
def reading_shared_cache(
    lang: str, *, log: Callable[[str], None], timeout: float, cancel: threading.Event | None
) -> Iterator[None]:
    """Around a project's build: warm the shared cache if this toolchain and SDK never were, then hold it
    for reading until the build's compilers are done, so that no warm-up rewrites it meanwhile. Waiting
    for a warm-up (or warming) takes at most `timeout` seconds in all, and stops when `cancel` is set."""
    if lang not in CACHED_LANGS:
        yield
        return
    deadline = time.monotonic() + timeout
    with contextlib.ExitStack() as held:
        for attempt in range(2):
            left = max(deadline - time.monotonic(), 0.0)
            held.enter_context(_cache_lock(lang, exclusive=False, timeout=left, cancel=cancel, log=log))
            if is_warm(lang):
                break
            held.close()  # a warm-up takes the lock exclusively: this process must not hold it too
            if attempt:  # warmed a moment ago, and a toolchain or SDK changed since
                raise CompileError(
                    f"the {lang} toolchain or dream's {lang} SDK changed while dream warmed the shared"
                    " compiler cache for it; build again"
                )
            log(f"warming the shared {lang} compiler cache with dream's own sources (once per toolchain) ...")
            left = max(deadline - time.monotonic(), 0.0)
            warm(lang, log=log, timeout=left, cancel=cancel, again=False)
        if lang == "go":
            _keep_fresh(tool_cache_dir() / "go-build")
        yield


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
