"""The serving benchmark's host probe (bench/host_probe.c) tells the host's slowness from the guest's
scheduling: work that took longer on its core counts as slowed, a unit held off its core counts as
preempted, and the benchmark's tail lines say what it saw."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from dream.testing.harness import wait_for
from tests.serving.test_bench_relay_floor import _bench


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    binary = _bench().build_host_probe(tmp_path_factory.mktemp("host-probe"))
    assert binary is not None, "the system C compiler (cc) builds bench/host_probe.c"
    return Path(binary)


def test_work_that_takes_longer_on_its_core_counts_as_slowed(
    probe: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every fourth unit is four times the work: on its core, as a slower host would make it.
    monkeypatch.setenv("HOST_PROBE_HEAVY", "4")
    with _bench().host_probe(probe, 1, gap_us=500) as readings:
        pass
    [reading] = readings
    assert reading.samples > 200  # a unit every half millisecond, for a second
    assert reading.slowed >= 24.0  # at least the heavy quarter (the host may slow more)
    assert reading.worst >= 3.5


def test_slowed_units_are_written_on_the_clock_requests_are_stamped_with(
    probe: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOST_PROBE_HEAVY", "4")
    out = tmp_path / "slowed"
    began = time.monotonic_ns()  # CLOCK_MONOTONIC, as bench/tail_client.c's stamps
    with _bench().host_probe(probe, 1, gap_us=500, slowed_out=out) as readings:
        pass
    ended = time.monotonic_ns()
    [reading] = readings
    spans = _bench()._int64_pairs(out)
    assert len(spans) == round(reading.slowed * reading.samples / 100)
    assert all(began <= start < end <= ended for start, end in spans)
    # Each span is a slowed unit's wall time: at least three fastest units, far less than the run.
    assert all(3_000 * reading.base_us <= end - start < 100_000_000 for start, end in spans)


def test_a_unit_held_off_its_core_counts_as_preempted_not_slowed(probe: Path) -> None:
    # Units back to back (no gap), stopped twice for 0.3 s: the wall clock runs on, the CPU clock stops.
    process = subprocess.Popen([str(probe), "1.6", "0"], stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(2):
            ran = _cpu_ticks(process.pid)
            wait_for(lambda: _cpu_ticks(process.pid) > ran, "the probe to run", timeout=10)  # noqa: B023
            os.kill(process.pid, signal.SIGSTOP)
            time.sleep(0.3)  # the subject: a unit held off its core this long
            os.kill(process.pid, signal.SIGCONT)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    values = dict(part.split("=") for part in out.split())
    assert int(values["preempted"]) >= 1
    # A stopped unit's wall time is ~10,000 units; its CPU time stays one unit's.
    assert float(values["worst"]) < 1000


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_without_a_probe_a_run_has_no_host_reading() -> None:
    with _bench().host_probe(None, 1) as readings:
        pass
    assert readings == []


def test_tail_lines_say_what_the_host_did_meanwhile() -> None:
    bench = _bench()
    slowed = bench.Result(
        "gateway", 1000.0, 1.0, 6.0, "", host=bench.HostReading(500, 27.0, 4.2, 1.0, 26.0, 0.0)
    )
    assert bench.tail_host(slowed) == (
        "; meanwhile the host ran fixed work 3 or more times slower 4.2 % of the time (worst 26 times)"
    )
    assert bench.tail_host(bench.Result("floor", 1000.0, 1.0, 2.0, "")) == ""
