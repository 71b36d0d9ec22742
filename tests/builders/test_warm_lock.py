"""The shared compiler cache is warmed by one process at a time: monkeys (or test workers) that build the
same language for the first time at once must not break each other's archives. And builds read it only
while no warm-up rewrites it: real processes hold the real locks here."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dream.builders import build_function
from dream.builders.languages import CompileError
from dream.builders.paths import tool_cache_dir
from dream.testing.harness import wait_for
from tests.builders.test_builders import PING_PONG, require_toolchain

WARM = """
from dream.builders.shared_cache import reading_shared_cache
with reading_shared_cache("rust", log=lambda line: None, timeout=300, cancel=None):
    pass
print("warm")
"""


@pytest.mark.language
def test_three_processes_warming_a_cold_cache_at_once_all_succeed(tmp_path: Path) -> None:
    require_toolchain("rust")
    env = {**os.environ, "DREAM_CACHE": str(tmp_path / "cold-cache")}
    env.pop("DREAM_TOOL_CACHE", None)  # the tool cache under the cold DREAM_CACHE
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", WARM], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err.decode()
        assert out.decode().strip() == "warm"
    assert [p.name for p in (tmp_path / "cold-cache" / "toolchains" / "warmed").glob("rust-*")]


def test_a_toolchain_in_another_place_is_warmed_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """zig keys its cache entries by its own lib dir: a cache warmed by a zig in one virtualenv holds
    nothing a zig in another finds, so each place gets its own warm marker."""
    from dream.builders import shared_cache
    from dream.builders.toolchains import Toolchain

    monkeypatch.setenv("DREAM_TOOL_CACHE", str(tmp_path))
    markers = []
    for place in ("one", "two", "one"):
        zig = Toolchain("zig", True, "0.0.1", tmp_path / place / "zig", "pip install ziglang")
        monkeypatch.setitem(shared_cache.FINDERS, "zig", lambda zig=zig: zig)
        markers.append(shared_cache._marker("c"))
    assert markers[0] != markers[1]
    assert markers[0] == markers[2]


# A process holding the shared cache the way a warm-up (`warm`) or a build (`reading_shared_cache`)
# does, until its stdin closes.
HOLD = """
import sys
from dream.builders import shared_cache
lang, role = sys.argv[1], sys.argv[2]
if role == "build":
    held = shared_cache.reading_shared_cache(lang, log=lambda line: None, timeout=60, cancel=None)
else:
    held = shared_cache._cache_lock(lang, exclusive=True, timeout=60, cancel=None, log=lambda line: None)
with held:
    print("holding", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def tool_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A tool cache of the test's own; its children inherit it. Go and C count as warm in it (their
    markers say so; nothing was compiled): the lock tests need no compiler."""
    from dream.builders import shared_cache

    monkeypatch.setenv("DREAM_TOOL_CACHE", str(tmp_path / "toolchains"))
    for lang in ("go", "c"):
        marker = shared_cache._marker(lang)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(shared_cache.warm_key(lang))
    return tmp_path / "toolchains"


Holder = Callable[[str, str], "subprocess.Popen[str]"]


@pytest.fixture
def holder(tool_cache: Path) -> Iterator[Holder]:
    """Starts a process that holds `lang`'s cache as a "warm-up" or a "build"; each is stopped at the end."""
    children: list[subprocess.Popen[str]] = []

    def start(lang: str, role: str) -> subprocess.Popen[str]:
        child = subprocess.Popen(
            [sys.executable, "-c", HOLD, lang, role], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        children.append(child)
        assert child.stdout is not None and child.stdout.readline() == "holding\n"
        return child

    yield start
    for child in children:
        child.kill()
        child.wait(timeout=30)


def release(child: subprocess.Popen[str]) -> None:
    assert child.stdin is not None
    child.stdin.close()
    assert child.wait(timeout=30) == 0


def reading(lang: str, log: list[str], timeout: float = 30, cancel: threading.Event | None = None) -> str:
    """What a build does before its compilers run; "read" once it held the cache for reading."""
    from dream.builders.shared_cache import reading_shared_cache

    with reading_shared_cache(lang, log=log.append, timeout=timeout, cancel=cancel):
        return "read"


def cache_lock(lang: str, log: list[str], *, exclusive: bool, timeout: float = 30) -> str:
    from dream.builders.shared_cache import _cache_lock

    with _cache_lock(lang, exclusive=exclusive, timeout=timeout, cancel=None, log=log.append):
        return "held"


def test_a_build_waits_for_a_warm_up_and_goes_on_once_it_ends(holder: Holder) -> None:
    """C builds read zig's cache: a zig warm-up holds them back too."""
    warm_up = holder("zig", "warm-up")
    log: list[str] = []
    with ThreadPoolExecutor(1) as pool:
        build = pool.submit(reading, "c", log)
        wait_for(lambda: log, "the build to say it waits")
        assert log == [
            "waiting for a warm-up of the shared zig compiler cache to finish"
            f" (lock {tool_cache_dir()}/warmed/.zig.lock) ..."
        ]
        assert not build.done()
        release(warm_up)
        assert build.result(timeout=30) == "read"


def test_builds_read_at_once_and_a_warm_up_waits_for_them(holder: Holder) -> None:
    from dream.builders.shared_cache import warm

    builds = [holder("go", "build"), holder("go", "build")]  # the second did not wait for the first
    lock = tool_cache_dir() / "warmed" / ".go.lock"
    log: list[str] = []
    with pytest.raises(CompileError) as timed_out:
        warm("go", log=log.append, timeout=0.5, again=True)
    pids = ", ".join(str(pid) for pid in sorted(build.pid for build in builds))
    assert str(timed_out.value) == (
        "warming go waited over 0.5s for builds reading the shared go compiler cache, or another warm-up of"
        f" it, to finish (lock {lock}, held by process {pids}); let them finish or stop them, then warm"
        " again (dream doctor --warm)"
    )
    assert log == [
        "waiting for builds reading the shared go compiler cache, or another warm-up of it, to finish"
        f" (lock {lock}) ..."
    ]
    with ThreadPoolExecutor(1) as pool:
        warm_up = pool.submit(cache_lock, "go", [], exclusive=True)
        release(builds[0])
        assert not warm_up.done()  # the other build still reads
        release(builds[1])
        assert warm_up.result(timeout=30) == "held"


def test_a_build_that_comes_while_a_warm_up_waits_goes_after_it(holder: Holder) -> None:
    """Builds that overlap one another cannot keep a warm-up out forever: one that comes later waits."""
    first = holder("go", "build")
    with ThreadPoolExecutor(2) as pool:
        warm_log: list[str] = []
        warm_up = pool.submit(cache_lock, "go", warm_log, exclusive=True)
        wait_for(lambda: warm_log, "the warm-up to wait for the build")
        with pytest.raises(CompileError, match=r"^the go build waited over 0\.3s for a warm-up"):
            reading("go", [], timeout=0.3)
        later: list[str] = []
        build = pool.submit(reading, "go", later)
        wait_for(lambda: later, "the later build to wait for the warm-up")
        release(first)
        assert warm_up.result(timeout=30) == "held"
        assert build.result(timeout=30) == "read"


def test_a_build_waiting_for_a_warm_up_times_out_or_is_cancelled_with_a_clear_error(holder: Holder) -> None:
    warm_up = holder("zig", "warm-up")
    lock = tool_cache_dir() / "warmed" / ".zig.lock"
    with pytest.raises(CompileError) as timed_out:
        reading("c", [], timeout=0.3)
    assert str(timed_out.value) == (
        f"the c build waited over 0.3s for a warm-up of the shared zig compiler cache to finish (lock {lock},"
        f" held by process {warm_up.pid}); let the warm-up finish or stop it, then build again"
    )
    cancel = threading.Event()
    log: list[str] = []
    with ThreadPoolExecutor(1) as pool:
        build = pool.submit(reading, "c", log, 30, cancel)
        wait_for(lambda: log, "the build to wait")
        cancel.set()
        with pytest.raises(CompileError) as cancelled:
            build.result(timeout=30)
    assert str(cancelled.value) == (
        "the c build was cancelled while it waited for a warm-up of the shared zig compiler cache to finish"
        f" (lock {lock})"
    )


def test_a_warm_up_waiting_for_builds_is_cancelled_with_a_clear_error(holder: Holder) -> None:
    from dream.builders.shared_cache import warm

    holder("go", "build")
    cancel = threading.Event()
    with pytest.raises(CompileError) as cancelled:
        warm("go", log=lambda line: cancel.set(), cancel=cancel, again=True)  # cancelled once it waits
    assert str(cancelled.value) == (
        "warming go was cancelled while it waited for builds reading the shared go compiler cache, or another"
        f" warm-up of it, to finish (lock {tool_cache_dir()}/warmed/.go.lock)"
    )


@pytest.mark.language
def test_a_build_that_must_warm_waits_for_a_warm_up_then_warms_and_builds(
    holder: Holder, tool_cache: Path, tmp_path: Path
) -> None:
    """A real Rust build in a cold cache while another process warms it: the build waits, then warms
    (the other warm-up wrote no marker) and builds, holding the cache for reading meanwhile."""
    require_toolchain("rust")
    warm_up = holder("rust", "warm-up")
    log: list[str] = []
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(
            build_function, PING_PONG / "rust", cache_dir=tmp_path / "builds", log=log.append, timeout=300
        )
        wait_for(lambda: any(line.startswith("waiting for a warm-up") for line in log), "the build to wait")
        release(warm_up)
        built = result.result(timeout=300)
    assert built.ok, built.log
    assert "warming the shared rust compiler cache with dream's own sources (once per toolchain) ..." in log
