"""Benchmark: one full `FunctionModule.call` of the WAT ping function (fresh Store per call), median.

Usage: .venv/bin/python bench/wasm_call.py [calls]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import wasmtime

from dream.wasm import HttpRequest, WasmHost

ROOT = Path(__file__).resolve().parents[1]
PING = ROOT / "fixtures" / "projects" / "hello" / "code" / "functions" / "ping" / "main.wat"


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with tempfile.TemporaryDirectory() as tmp, WasmHost(Path(tmp)) as host:
        path = host.call_path.name
        module = host.load("ping", wasmtime.wat2wasm(PING.read_text()), name="functions/ping")
        request = HttpRequest(method="GET", host="bench", path="/ping")
        for _ in range(200):
            module.call("ping", request, timeout=1, memory_limit=10_000_000)
        samples = []
        for _ in range(calls):
            started = time.perf_counter()
            module.call("ping", request, timeout=1, memory_limit=10_000_000)
            samples.append(time.perf_counter() - started)
    samples.sort()
    print(
        f"ping call ({path} path): median {statistics.median(samples) * 1e6:.1f} us, "
        f"p99 {samples[int(len(samples) * 0.99)] * 1e6:.1f} us over {calls} calls"
    )


if __name__ == "__main__":
    main()
