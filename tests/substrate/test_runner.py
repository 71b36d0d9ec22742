"""Where function calls run: quick functions move inline, busy or waiting ones stay on worker threads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
import wasmtime

from dream.substrate import runner as runner_module
from dream.substrate.routing import Resource
from dream.substrate.runner import QUICK_STREAK, ReadyFunction, Runner
from dream.wasm import FunctionModule, WasmHost, WasmTimeout
from tests.substrate.conftest import MB, get

SLEEPER = """(module
  (import "env" "_sleep" (func $sleep (param i64)))
  (import "taubyte/sdk" "eventHttpRetCode" (func $ret (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "ping") (param $ev i32) (result i32)
    (drop (call $ret (local.get $ev) (i32.const 200))) (i32.const 0)))
"""

# GET: a quick call. Any other method: the same and a busy loop of SPINS rounds (well over QUICK_CPU).
NOW_AND_THEN = """(module
  (import "taubyte/sdk" "getHttpEventMethodSize" (func $methodSize (param i32 i32) (result i32)))
  (import "taubyte/sdk" "eventHttpRetCode" (func $ret (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "ping") (param $ev i32) (result i32)
    (local $i i32)
    (drop (call $methodSize (local.get $ev) (i32.const 64)))
    (if (i32.ne (i32.load (i32.const 64)) (i32.const 3))
      (then (loop $busy
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $busy (i32.lt_u (local.get $i) (i32.const SPINS))))))
    (drop (call $ret (local.get $ev) (i32.const 200))) (i32.const 0)))
"""
SPINS = 20_000_000  # ~10 ms of CPU or more


def ready(module: FunctionModule, export: str, *, timeout_ns: int = 2_000_000_000) -> ReadyFunction:
    config = {"name": export, "call": export, "timeout": timeout_ns, "memory": 10 * MB}
    resource = Resource("functions", f"id-{export}", "project", "main", "commit", None, config)
    return ReadyFunction.of(resource, module)


def test_a_quick_function_moves_inline_after_a_streak(
    load: Callable[..., FunctionModule], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What counts as quick is raised tenfold: a call on the plain wasmtime-py path (DREAM_WASM_CALL=plain)
    # uses about the default's 0.3 ms of CPU, so a streak of them under load is luck; the streak is tested.
    monkeypatch.setattr(runner_module, "QUICK_CPU", runner_module.QUICK_CPU * 10)
    fn = ready(load("traps"), "ok")
    runner = Runner(workers=2)
    try:

        async def calls() -> int:
            for count in range(1, 5 * QUICK_STREAK):
                result = await runner.run(fn, get())
                assert result.status == 200
                if fn.inline:
                    return count
            return -1

        # The first calls may be slower (first instantiation); then QUICK_STREAK quick ones in a row.
        assert asyncio.run(calls()) >= QUICK_STREAK

        result = runner.run_inline(fn, get())  # now on the caller's thread
        assert result is not None and result.status == 200
    finally:
        runner.close()


def test_a_busy_inline_call_is_stopped_and_rerun_on_a_worker(load: Callable[..., FunctionModule]) -> None:
    fn = ready(load("traps"), "spin", timeout_ns=300_000_000)
    fn.inline = True  # as if it had been quick so far
    runner = Runner(workers=2)
    try:
        started = time.monotonic()
        with pytest.raises(WasmTimeout, match="timed out after"):
            asyncio.run(runner.run(fn, get()))
        # The inline slice gave up within ~20 ms; the worker ran it to its full 300 ms timeout.
        assert time.monotonic() - started >= 0.25
        assert not fn.inline and fn.streak == 0
    finally:
        runner.close()


def test_only_slow_inline_calls_in_a_row_send_a_function_back_to_the_workers(
    load: Callable[..., FunctionModule], monkeypatch: pytest.MonkeyPatch
) -> None:
    fn = ready(load("traps"), "ok")
    fn.inline = True
    runner = Runner(workers=1)
    try:
        monkeypatch.setattr(runner_module, "SLOW_INLINE", -1.0)  # every call counts as slow
        for _ in range(runner_module.SLOW_STREAK - 1):  # a preempted call or two proves nothing
            assert runner.run_inline(fn, get()) is not None
        assert fn.inline
        monkeypatch.setattr(runner_module, "SLOW_INLINE", 60.0)  # a quick call ends the streak
        assert runner.run_inline(fn, get()) is not None and fn.streak == 0
        monkeypatch.setattr(runner_module, "SLOW_INLINE", -1.0)
        for _ in range(runner_module.SLOW_STREAK):
            assert runner.run_inline(fn, get()) is not None
        assert not fn.inline and fn.streak == 0
        assert runner.run_inline(fn, get()) is None  # from now on: the workers
    finally:
        runner.close()


def test_inline_slice_is_the_whole_timeout_for_short_timeouts(load: Callable[..., FunctionModule]) -> None:
    fn = ready(load("traps"), "spin", timeout_ns=int(runner_module.INLINE_SLICE * 1e9 / 2))
    fn.inline = True
    with pytest.raises(WasmTimeout):
        Runner(workers=1).run_inline(fn, get())


def test_a_function_that_can_wait_never_runs_inline(host) -> None:  # type: ignore[no-untyped-def]
    import wasmtime

    module = host.load("sleeper", wasmtime.wat2wasm(SLEEPER), name="functions/sleeper")
    assert module.may_block
    fn = ready(module, "ping")
    runner = Runner(workers=2)
    try:

        async def calls() -> None:
            for _ in range(QUICK_STREAK + 5):
                assert (await runner.run(fn, get())).status == 200

        asyncio.run(calls())
        assert not fn.inline and runner.run_inline(fn, get()) is None
    finally:
        runner.close()


@pytest.mark.parametrize(("every", "moves"), [(QUICK_STREAK, True), (3, False)])
def test_a_slower_worker_call_now_and_then_costs_the_streak_a_few_calls(
    host: WasmHost, monkeypatch: pytest.MonkeyPatch, every: int, moves: bool
) -> None:
    # A call found cold caches (after a pause between requests) used 3-10x its usual CPU: one of them
    # in each QUICK_STREAK calls must not keep a function on the workers for good, and a function slow
    # on one call in three must stay there. Quick is raised tenfold, as above: the rule is tested.
    monkeypatch.setattr(runner_module, "QUICK_CPU", runner_module.QUICK_CPU * 10)
    # The workers' lowest CPU priority would let any busy process beside the test (another pytest worker)
    # stretch each slow call's ~10 ms of CPU past seconds (seen: 2 s, its timeout): here it is the usual one,
    # and the timeout is long, since CPU time, not wall time, is what the rule counts.
    monkeypatch.setattr(runner_module, "WORKER_NICE", 0)
    wasm = wasmtime.wat2wasm(NOW_AND_THEN.replace("SPINS", str(SPINS)))
    module = host.load("now-and-then", wasm, name="functions/now-and-then")
    fn = ready(module, "ping", timeout_ns=60_000_000_000)
    runner = Runner(workers=2)
    try:

        async def calls() -> int:
            for count in range(1, 6 * QUICK_STREAK):
                slow = count % every == 0
                assert (await runner.run(fn, get(method="POST" if slow else "GET"))).status == 200
                if fn.inline:
                    return count
            return -1

        inline_after = asyncio.run(calls())
        assert (inline_after > 0) == moves, (inline_after, fn.streak)
        assert moves or fn.streak < QUICK_STREAK
    finally:
        runner.close()
