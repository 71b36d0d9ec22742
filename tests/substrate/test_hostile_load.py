"""The substrate's serving limits on real wasm: calls stopped by the clock and by a cancel, waits in
host functions bounded, admission per function, per project and by memory, the timeout ceiling."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import wasmtime

from dream.limits import Limits
from dream.substrate.routing import Resource
from dream.substrate.runner import WORKER_NICE, ReadyFunction, Runner
from dream.testing.harness import until
from dream.wasm import FunctionModule, WasmHost, WasmTimeout
from dream.wasm.errors import SubstrateBusy, WasmCancelled
from dream.wasm.interrupt import CallControl
from tests.substrate.conftest import MB, get

# Guests that wait in a host function: an hour in env._sleep, an hour in WASI poll_oneoff.
SLEEPY = """(module
  (import "env" "_sleep" (func $sleep (param i64)))
  (memory (export "memory") 1)
  (func (export "sleep") (param $ev i32) (result i32)
    (call $sleep (i64.const 3600000000000)) (i32.const 0)))
"""
NAPPER = """(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "eventHttpRetCode" (func $ret (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start"))
  ;; one clock subscription at 0 (userdata 7, monotonic clock, timeout from offset 24); its event at 64
  (func $nap (param $ns i64) (result i32)
    (i64.store (i32.const 0) (i64.const 7))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (local.get $ns))
    (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
  (func (export "hour") (param $ev i32) (result i32)
    (drop (call $nap (i64.const 3600000000000))) (i32.const 0))
  ;; sleeps 50 ms, then answers 200 + errno * 10 + the number of events (1) if the event is the clock's
  (func (export "short") (param $ev i32) (result i32)
    (local $errno i32)
    (local.set $errno (call $nap (i64.const 50000000)))
    (drop (call $ret (local.get $ev)
      (i32.add (i32.const 200)
        (i32.add (i32.mul (local.get $errno) (i32.const 10))
          (select (i32.load (i32.const 128)) (i32.const 9)
            (i64.eq (i64.load (i32.const 64)) (i64.const 7)))))))
    (i32.const 0)))
"""


def ready(
    module: FunctionModule,
    export: str,
    *,
    timeout: float = 2.0,
    memory: int = 10 * MB,
    project: str = "project",
    limits: Limits | None = None,
) -> ReadyFunction:
    config = {"name": export, "call": export, "timeout": int(timeout * 1e9), "memory": memory}
    resource = Resource("functions", f"id-{project}-{export}", project, "main", "commit", None, config)
    return ReadyFunction.of(resource, module, limits)


@pytest.fixture
def runner() -> Iterator[Callable[..., Runner]]:
    made: list[Runner] = []

    def make(**limits: object) -> Runner:
        made.append(Runner(Limits(**limits)))  # type: ignore[arg-type]
        return made[-1]

    try:
        yield make
    finally:
        for r in made:
            r.close()


def wat_module(host: WasmHost, name: str, text: str) -> FunctionModule:
    return host.load(name, wasmtime.wat2wasm(text), name=f"functions/{name}")


# -- stopping a call ------------------------------------------------------------------------------


def test_eight_busy_calls_at_once_each_stop_on_time_by_the_clock(load: Callable[..., FunctionModule]) -> None:
    module = load("traps")
    elapsed: list[float] = []

    def one() -> None:
        started = time.monotonic()
        control = CallControl(started + 1.0)
        with pytest.raises(WasmTimeout, match="timed out after 1s"):
            module.call("spin", get(), timeout=1.0, memory_limit=10 * MB, control=control)
        elapsed.append(time.monotonic() - started)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(elapsed) == 8
    # Correctness with a wide margin: before the clock was checked, ticks came late and so did the end.
    assert all(1.0 <= e < 1.5 for e in elapsed), elapsed


def test_a_cancel_stops_a_busy_call_long_before_its_timeout(load: Callable[..., FunctionModule]) -> None:
    module = load("traps")
    control = CallControl(time.monotonic() + 30)
    threading.Timer(0.2, control.cancel).start()
    started = time.monotonic()
    with pytest.raises(WasmCancelled, match="was stopped: its client went away"):
        module.call("spin", get(), timeout=30, memory_limit=10 * MB, control=control)
    assert time.monotonic() - started < 5  # the timeout was 30 s


@pytest.mark.parametrize(("source", "export"), [(SLEEPY, "sleep"), (NAPPER, "hour")])
def test_a_guest_waiting_in_a_host_function_is_bounded_by_its_timeout_and_a_cancel(
    host: WasmHost, source: str, export: str
) -> None:
    module = wat_module(host, export, source)
    started = time.monotonic()
    with pytest.raises(WasmTimeout):
        module.call(export, get(), timeout=0.3, memory_limit=10 * MB, control=CallControl(started + 0.3))
    assert time.monotonic() - started < 5  # it asked for an hour
    control = CallControl(time.monotonic() + 30)
    threading.Timer(0.2, control.cancel).start()
    started = time.monotonic()
    with pytest.raises(WasmCancelled):
        module.call(export, get(), timeout=30, memory_limit=10 * MB, control=control)
    assert time.monotonic() - started < 5


def test_poll_oneoff_sleeps_as_asked_and_reports_the_clock_event(host: WasmHost) -> None:
    module = wat_module(host, "short", NAPPER)
    started = time.monotonic()
    response = module.call("short", get(), timeout=5, memory_limit=10 * MB, control=CallControl(started + 5))
    assert time.monotonic() - started >= 0.05
    assert response.status == 201  # errno 0, one event, the clock's (userdata 7)


# -- admission ------------------------------------------------------------------------------------


def test_a_slow_function_queues_behind_itself_not_in_front_of_others(
    load: Callable[..., FunctionModule], runner: Callable[..., Runner]
) -> None:
    r = runner(calls_per_function=2, queued_per_function=1)
    module = load("traps")
    spin = ready(module, "spin", timeout=0.5)
    ok = ready(module, "ok")  # never inline here: it takes the worker path like the slow one

    async def scenario() -> None:
        slow = [asyncio.ensure_future(r.run(spin, get())) for _ in range(2)]
        # The third waits; its deadline comes before the first two end.
        slow.append(asyncio.ensure_future(r.run(spin, get(), CallControl(time.monotonic() + 0.25))))
        await until(lambda: (r.admission.running, r.admission.queued) == (2, 1), "two running, one queued")
        with pytest.raises(SubstrateBusy, match="has 1 calls waiting to start already"):
            await r.run(spin, get())
        assert (await r.run(ok, get())).status == 200  # another function: at once
        results = await asyncio.gather(*slow, return_exceptions=True)
        # Two ran to their timeout; the third waited for them and its deadline passed meanwhile.
        assert sorted(type(e).__name__ for e in results) == ["SubstrateBusy", "WasmTimeout", "WasmTimeout"]
        refused = next(e for e in results if isinstance(e, SubstrateBusy))
        assert "2 calls of it were already running" in str(refused)
        assert "raise `calls_per_function` under `limits` of the substrate" in str(refused)
        # A 504 may go out before the stopped guest's thread has ended; the slot is held until it does.
        # The slot comes back on the event loop, so this waits on it: once the loop is closed, a thread
        # that ends later has nowhere to give its slot back.
        await until(
            lambda: (r.admission.running, r.admission.queued, r.admission.memory) == (0, 0, 0),
            "the stopped calls to give back their slots",
            timeout=10,
        )

    asyncio.run(scenario())


def test_a_project_limit_holds_its_other_functions_but_not_other_projects(
    load: Callable[..., FunctionModule], runner: Callable[..., Runner]
) -> None:
    r = runner(calls_per_project=2)
    module = load("traps")
    spin = ready(module, "spin", timeout=1.0)
    same_project = ready(module, "ok", timeout=0.1)
    other_project = ready(module, "ok", project="other")

    async def scenario() -> None:
        slow = [asyncio.ensure_future(r.run(spin, get())) for _ in range(2)]
        await until(lambda: r.admission.running == 2, "both slow calls to run")
        with pytest.raises(SubstrateBusy, match="2 calls of project project were already running"):
            await r.run(same_project, get())
        assert (await r.run(other_project, get())).status == 200
        await asyncio.gather(*slow, return_exceptions=True)

    asyncio.run(scenario())


def test_memory_is_admitted_against_the_cap_and_a_waiting_call_starts_when_it_frees(
    load: Callable[..., FunctionModule], runner: Callable[..., Runner]
) -> None:
    r = runner(memory=15 * MB)
    module = load("traps")
    spin = ready(module, "spin", timeout=1.0, memory=10 * MB)
    ok = ready(module, "ok", timeout=5, memory=10 * MB)
    greedy = ready(module, "ok", memory=20 * MB, project="greedy")

    async def scenario() -> None:
        first = asyncio.ensure_future(r.run(spin, get()))
        await until(lambda: r.admission.memory == 10 * MB, "the first call's 10MB to be admitted")
        second = asyncio.ensure_future(r.run(ok, get()))
        # 10MB + 10MB > 15MB: it waits
        await until(lambda: (r.admission.running, r.admission.queued) == (1, 1), "the second call to wait")
        assert (await second).status == 200  # ...and runs once the loop's 10MB are free
        assert first.done()
        with pytest.raises(WasmTimeout):
            await first
        with pytest.raises(SubstrateBusy, match=r"asks for 20MiB of memory .* more than the 15MiB"):
            await r.run(greedy, get())

    asyncio.run(scenario())


def test_an_inline_call_does_not_run_past_the_memory_cap(
    load: Callable[..., FunctionModule], runner: Callable[..., Runner]
) -> None:
    r = runner(memory=15 * MB)
    fn = ready(load("traps"), "ok", memory=10 * MB)
    fn.inline = True
    assert r.run_inline(fn, get()) is not None
    r.admission.memory = 10 * MB  # as if a worker call held it
    assert r.run_inline(fn, get()) is None  # the worker path: it waits for memory there


def test_a_cancel_while_waiting_leaves_the_line(
    load: Callable[..., FunctionModule], runner: Callable[..., Runner]
) -> None:
    r = runner(calls_per_function=1)
    module = load("traps")
    spin = ready(module, "spin", timeout=30)

    async def scenario() -> None:
        first = CallControl(time.monotonic() + 30)
        running = asyncio.ensure_future(r.run(spin, get(), first))
        await until(lambda: r.admission.running == 1, "the first call to run")
        second = CallControl(time.monotonic() + 30)
        waiting = asyncio.ensure_future(r.run(spin, get(), second))
        await until(lambda: (r.admission.running, r.admission.queued) == (1, 1), "the second call to wait")
        second.cancel()
        with pytest.raises(WasmCancelled):
            await waiting
        assert (r.admission.running, r.admission.queued, r.stopped) == (1, 0, 1)
        first.cancel()
        with pytest.raises(WasmCancelled):
            await running
        # The thread ends at the guest's next epoch check.
        await until(lambda: r.admission.running == 0, "the cancelled call's thread to end", timeout=5)
        assert r.stopped == 2

    asyncio.run(scenario())


# -- the timeout ceiling --------------------------------------------------------------------------


def test_a_timeout_above_the_ceiling_is_clamped_with_a_log_line_naming_the_function(
    load: Callable[..., FunctionModule], runner: Callable[..., Runner], caplog: pytest.LogCaptureFixture
) -> None:
    limits = Limits(timeout=0.3)
    with caplog.at_level(logging.WARNING, logger="dream.substrate"):
        fn = ready(load("traps"), "spin", timeout=600, limits=limits)
    assert (fn.timeout, fn.asked_timeout) == (0.3, 600)
    assert "function spin of project project: execution.timeout 600s is above this substrate's ceiling" in (
        caplog.text
    )
    r = runner(timeout=0.3)
    started = time.monotonic()
    with pytest.raises(WasmTimeout, match=r"timed out after 300ms: its execution.timeout of 600s is above"):
        asyncio.run(r.run(fn, get()))
    assert time.monotonic() - started < 5
    within = ready(load("traps"), "spin", timeout=0.2, limits=limits)
    assert (within.timeout, within.asked_timeout) == (0.2, 0.0)


# -- CPU priority -----------------------------------------------------------------------------------


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="per-thread niceness is Linux's")
def test_worker_threads_run_at_the_lowest_cpu_priority_and_the_loop_keeps_its_own(
    runner: Callable[..., Runner],
) -> None:
    r = runner()
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    assert r.executor.submit(niceness).result(timeout=10) == max(mine, WORKER_NICE) == 19
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine
