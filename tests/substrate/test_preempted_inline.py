"""An inline call stopped at its slice by time the machine took (the process had no CPU: here, stopped by
SIGSTOP) runs again inline; the function stays inline instead of moving to the worker threads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.substrate.conftest import WAT_DIR

# Calls `ping` inline (both ways: one C call, and `call`) until 3 calls were rerun for a stop, the
# function left the inline path, or 60 s passed; then prints `inline preempted`.
LOOP = """
import sys, tempfile, time
from pathlib import Path
import wasmtime
from dream.substrate.routing import Resource
from dream.substrate.runner import ReadyFunction, Runner
from dream.wasm import WasmHost
from dream.wasm.types import HttpRequest

with tempfile.TemporaryDirectory() as tmp, WasmHost(Path(tmp)) as host:
    module = host.load("ping", wasmtime.wat2wasm(Path(sys.argv[1]).read_text()), name="functions/ping")
    fn = ReadyFunction.of(Resource("functions", "ping", "p", "main", "", None, {"call": "ping"}), module)
    fn.inline = True
    runner = Runner()
    request = HttpRequest("GET", "example.com", "/ping")
    print("ready", flush=True)
    end = time.monotonic() + 60
    while fn.inline and runner.preempted < 3 and time.monotonic() < end:
        if fn.serve is not None:
            runner.serve_inline(fn, fn.serve, b"GET", b"example.com", b"/ping")
        runner.run_inline(fn, request)
    print(fn.inline, runner.preempted, flush=True)
    runner.close()
"""


@pytest.mark.skip(
    reason="flaky, open: whether a SIGSTOP lands inside a call's wasm or in the Python around it is "
    "left to timing, and on a quiet machine the function sometimes leaves the inline path after a rerun"
)
def test_a_call_stopped_by_the_machine_runs_again_inline(tmp_path: Path) -> None:
    loop = subprocess.Popen(
        [sys.executable, "-c", LOOP, str(WAT_DIR / "ping.wat")],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert loop.stdout is not None
        assert loop.stdout.readline().strip() == "ready"
        stops = 0
        while loop.poll() is None and stops < 200:
            os.kill(loop.pid, signal.SIGSTOP)
            time.sleep(0.05)  # the stop itself: five epoch ticks without CPU
            os.kill(loop.pid, signal.SIGCONT)
            stops += 1
            time.sleep(0.02)  # and running between stops
        out, _ = loop.communicate(timeout=60)
    finally:
        if loop.poll() is None:
            os.kill(loop.pid, signal.SIGCONT)
            loop.kill()
            loop.wait()
    inline, preempted = out.split()
    assert inline == "True", f"the function left the inline path after {preempted} reruns"
    assert int(preempted) == 3
