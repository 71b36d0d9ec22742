"""The serving benchmark's measure of a substrate waiting for a core (`waited_ns`, the kernel's schedstat):
real waits of real processes are counted, a process that is not there is no figure, and the table says
how long the substrate's loop waited when called directly and through the gateway."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from dream.testing.harness import wait_for
from tests.serving.test_bench_relay_floor import _bench

SPIN = "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True: pass"


@pytest.fixture
def two_spinners_on_one_cpu() -> Iterator[list[int]]:
    """Two busy processes sharing one CPU: each is runnable without it about half the time."""
    cpu = min(os.sched_getaffinity(0))
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN, str(cpu)]) for _ in range(2)]
    try:
        yield [spinner.pid for spinner in spinners]
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait(timeout=10)


@pytest.mark.skipif(not os.path.exists("/proc/self/schedstat"), reason="the kernel gives no schedstat")
def test_a_process_sharing_its_cpu_is_counted_waiting(two_spinners_on_one_cpu: list[int]) -> None:
    bench = _bench()
    pid = two_spinners_on_one_cpu[0]
    start = bench.waited_ns(pid)
    assert start is not None and start >= 0
    # 200 ms of waiting is reached in about 0.4 s of sharing; the bound only stops a broken count.
    wait_for(
        lambda: bench.waited_ns(pid) - start > 200e6, "the spinner's wait for its CPU to grow", timeout=30
    )


def test_no_process_is_no_figure() -> None:
    bench = _bench()
    assert bench.waited_ns(None) is None
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    assert bench.waited_ns(gone.pid) is None


def test_the_table_says_how_long_the_substrate_waited(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _bench()
    result = bench.Result
    bench.print_table(
        [
            result("floor", 100_000, 0.5, 2.0, "", 7.5),
            result("bare", 20_000, 2.5, 6.0, "", 45.0),
            result("substrate", 40_000, 1.3, 3.5, "", 21.0, 11.0),
            result("gateway", 30_000, 1.8, 5.0, "", 14.0, 240.0),
            result("relay-floor", 34_000, 1.6, 4.5, "", 8.5, 180.0),
            result("busy", 30_000, 1.5, 13.0, ""),
            result("inspected", 40_000, 1.3, 3.5, "", 21.0, 12.0),
            result("uninspected", 41_000, 1.3, 3.5, "", 20.5, 13.0),
        ]
    )
    out = capsys.readouterr().out
    assert "sub. wait" in out
    assert (
        "the substrate's loop waited for a core (ms per s): called directly 11, through the gateway 240,"
        " through the relay floor 180"
    ) in out
    floor_row = next(line for line in out.splitlines() if line.startswith("floor "))
    assert floor_row.split()[-2] == "-"  # no substrate behind the floor server
