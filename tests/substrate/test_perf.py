"""The per-request path stays lean: a full `call` of the WAT ping function, measured."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from dream.substrate.wasm import FunctionModule
from tests.substrate.conftest import MB, get


def test_ping_call_median(load: Callable[..., FunctionModule]) -> None:
    mod = load("ping")
    req = get()
    for _ in range(200):  # warm-up
        mod.call("ping", req, timeout=1, memory_limit=10 * MB)
    samples = []
    for _ in range(2000):
        t = time.perf_counter()
        mod.call("ping", req, timeout=1, memory_limit=10 * MB)
        samples.append(time.perf_counter() - t)
    median_us = statistics.median(samples) * 1e6
    print(f"\nping call median: {median_us:.1f} us")
    # ~45 us on an idle 2-core box; the bound is loose because the suite shares the CPU.
    assert median_us < 500
