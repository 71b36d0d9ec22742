"""An inline call stopped at its slice by time the machine took (the process had no CPU: here, stopped by
SIGSTOP) runs again inline; the function stays inline instead of moving to the worker threads.

The process is stopped exactly while a call runs: its epoch ticker stops it (`DREAM_TEST_TICKER_STOPS`)
at a tick at which a call runs, while it holds the GIL, so the call's thread is in the C call that
instantiates and runs the guest. This test continues it 50 ms (five ticks) later; the ticker then makes
up for the ticks it missed at once, which stops the guest at its deadline, and the runner reruns it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import wasmtime

from dream.substrate.runner import PREEMPTED_RERUNS
from dream.testing.harness import wait_for
from dream.wasm.engine import STOP_ENV, EpochTicker

# Busy for ~0.1 ms (the loop's back-edges check the epoch deadline), writes PONG (a host call that takes
# the GIL on every call path: a thread stopped in the first loop waits there until the ticker has caught
# up), busy again, answers 200.
GUEST = """(module
  (import "taubyte/sdk" "eventHttpWrite"   (func $write (param i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "eventHttpRetCode" (func $retCode (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "PONG")
  (func $busy (local $i i32)
    (loop $again
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 150000)))))
  (func (export "ping") (param $ev i32) (result i32)
    (call $busy)
    (drop (call $write (local.get $ev) (i32.const 16) (i32.const 4) (i32.const 64)))
    (call $busy)
    (drop (call $retCode (local.get $ev) (i32.const 200)))
    (i32.const 0)))
"""
RERUNS = 3

# Calls `ping` inline (both ways: one C call where the path has it, and `call`) until RERUNS calls were
# rerun for a stop, the function left the inline path, or 60 s passed; then prints whether it is still
# inline and the calls rerun.
LOOP = f"""
import sys, tempfile, time
from pathlib import Path
import wasmtime
from dream.substrate import runner as runner_module
from dream.substrate.routing import Resource
from dream.substrate.runner import ReadyFunction, Runner
from dream.wasm import WasmHost
from dream.wasm.types import HttpRequest

with tempfile.TemporaryDirectory() as tmp, WasmHost(Path(tmp)) as host:
    module = host.load("ping", wasmtime.wat2wasm(sys.argv[1]), name="functions/ping")
    fn = ReadyFunction.of(Resource("functions", "ping", "p", "main", "", None, {{"call": "ping"}}), module)
    fn.inline = True
    # A stop that lands after the guest's last deadline check makes its call slow, not stopped; a few
    # slow calls in a row are the other rule (tests/substrate/test_runner.py), not this test's.
    runner_module.SLOW_INLINE = 60.0
    runner = Runner()
    request = HttpRequest("GET", "example.com", "/ping")
    print("ready", flush=True)
    end = time.monotonic() + 60
    while fn.inline and runner.preempted < {RERUNS} and time.monotonic() < end:
        if fn.serve is not None:
            served = runner.serve_inline(fn, fn.serve, b"GET", b"example.com", b"/ping")
            assert served is None or served[0][2] == b"PONG", served
        answer = runner.run_inline(fn, request)
        assert answer is None or answer.body == b"PONG", answer
    print(fn.inline, runner.preempted, flush=True)
    runner.close()
"""


def _stopped_or_ended(pid: int) -> str | None:
    """Whether the process is "stopped" (by a signal) or has "ended"; None while it runs."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "ended"
    return "stopped" if state == "T" else "ended" if state in ("Z", "X") else None


def _stopped_in_calls(loop: str, guest: str, every: int) -> tuple[list[str], int]:
    """Run `loop` (given `guest`) in a process whose ticker stops it at one tick in `every` at which a
    call runs, continuing it 50 ms later each time, until it ends: (what it printed last, the stops)."""
    process = subprocess.Popen(
        [sys.executable, "-c", loop, guest],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, STOP_ENV: str(every)},
    )
    stops = 0
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        while process.poll() is None:
            stopped = wait_for(
                lambda: _stopped_or_ended(process.pid),
                "the loop to stop itself in a call, or to end",
                timeout=60,
            )
            if stopped != "stopped":
                break
            time.sleep(0.05)  # the time the process has no CPU: five epoch ticks
            os.kill(process.pid, signal.SIGCONT)
            stops += 1
        out, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
            process.kill()
            process.wait()
    return out.split(), stops


def test_a_call_stopped_by_the_machine_runs_again_inline() -> None:
    # One tick in three at which a call runs: two ticks at least come between a stop and the next, so
    # the rerun that follows a stop (~0.2 ms) is not the next one's.
    (inline, preempted), stops = _stopped_in_calls(LOOP, GUEST, 3)
    assert inline == "True", f"the function left the inline path after {preempted} reruns ({stops} stops)"
    # Some may have been the machine's own stops (counted alike), and a rerun may be stopped too.
    assert int(preempted) >= RERUNS


# A guest that never returns, called once inline: every attempt is stopped by the machine (the ticker
# stops the process at every tick at which a call runs), so it is rerun PREEMPTED_RERUNS times, then
# moves to the workers like any busy guest.
BUSY = """(module (memory (export "memory") 1)
  (func (export "ping") (param $ev i32) (result i32) (loop $forever (br $forever)) (i32.const 0)))
"""
BUSY_LOOP = (
    LOOP[: LOOP.index("    end = time.monotonic()")]
    + """    if fn.serve is not None:
        answer = runner.serve_inline(fn, fn.serve, b"GET", b"example.com", b"/ping")
    else:
        answer = runner.run_inline(fn, request)
    print(answer is None, fn.inline, runner.preempted, flush=True)
    runner.close()
"""
)


def test_a_busy_call_stopped_by_the_machine_is_rerun_a_bounded_number_of_times() -> None:
    (moved, inline, preempted), stops = _stopped_in_calls(BUSY_LOOP, BUSY, 1)
    assert (moved, inline) == ("True", "False")
    assert int(preempted) == PREEMPTED_RERUNS, f"{preempted} reruns after {stops} stops"


@pytest.mark.parametrize("value", ["0", "-1", "often"])
def test_the_stop_setting_takes_a_whole_number_of_ticks(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(STOP_ENV, value)
    with pytest.raises(ValueError, match=f"{STOP_ENV}=.*: expected a whole number of ticks >= 1"):
        EpochTicker(wasmtime.Engine())
