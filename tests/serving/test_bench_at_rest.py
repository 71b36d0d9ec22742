"""The at-rest benchmark's measures (`bench/at_rest.py`) on real processes: a process's descendants are
found through the kernel's parent links (`bench/cpu_group.py`'s), their CPU and context switches are
summed over every thread, and a process that ended counts nothing instead of failing the measure."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from dream.testing.harness import wait_for

BENCH = Path(__file__).resolve().parents[2] / "bench"
# A parent that starts a child; each burns about 0.3 s of CPU, prints "spun", then waits for stdin.
SPIN = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', sys.argv[1], ''], stdin=subprocess.PIPE)\n"
    "end = time.process_time() + 0.3\n"
    "while time.process_time() < end: pass\n"
    "print('spun', flush=True); sys.stdin.readline(); child.kill(); child.wait()\n"
)
CHILD = (
    "import sys, time\n"
    "end = time.process_time() + 0.3\n"
    "while time.process_time() < end: pass\n"
    "open(sys.argv[1], 'w').write('spun') if sys.argv[1] else None\n"
    "sys.stdin.readline()\n"
)


def _bench() -> ModuleType:
    sys.path.insert(0, str(BENCH))  # the bench imports its neighbours (base, serving) by name
    try:
        spec = importlib.util.spec_from_file_location("bench_at_rest", BENCH / "at_rest.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture
def parent_and_child(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    marker = tmp_path / "child-spun"
    child = CHILD.replace("sys.argv[1]", repr(str(marker)))
    parent = subprocess.Popen(
        [sys.executable, "-c", SPIN, child], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        yield parent, marker
    finally:
        parent.kill()
        parent.wait(timeout=10)


def test_descendants_and_their_cpu_are_counted(parent_and_child: tuple[subprocess.Popen[str], Path]) -> None:
    bench = _bench()
    parent, marker = parent_and_child
    assert parent.stdout is not None and parent.stdout.readline().strip() == "spun"
    wait_for(marker.exists, timeout=30, what="the child to burn its CPU")
    children = bench.descendants(parent.pid)
    assert parent.pid not in children and len(children) == 1
    found = [parent.pid, *children]
    ticks, switches = bench.usage(found)
    # Both burnt ~0.3 s (0.6 in all): at least half of it shows (ticks are 1/CLK_TCK s); each was
    # switched out.
    assert ticks / bench.TICKS >= 0.3
    assert switches >= 2
    alone, _ = bench.usage([parent.pid])
    assert 0 < alone < ticks


def test_a_process_that_ended_counts_nothing() -> None:
    bench = _bench()
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait(timeout=30)
    assert bench.usage([ended.pid]) == (0, 0)
    assert bench.descendants(ended.pid) == []
