"""Runs a function's wasm for one request: inline on the event loop when it is known to be quick, else on
a worker thread, within the substrate's serving limits.

Handing a call to a thread costs more than a small call itself (and every ctypes call into wasmtime
then contends for the GIL with the event loop), so a function whose calls have been cheap runs inline.
Inline calls get a short epoch deadline: one that runs past it is stopped, rerun on a worker thread
with its full timeout, and runs there from then on, so a busy function stalls the loop for at most
`INLINE_SLICE`. Functions able to wait (sleep, poll) never run inline. A function's only effects are
its buffered response and its log lines, so a rerun changes nothing but duplicate log lines. A function
using databases runs inline while it only reads what the substrate holds; a call that would have to wait
(a write) is given up before it does anything and rerun on a worker (`WasmNeedsWorker`).

Worker calls are admitted by `Admission` (slots per function, per project and in all, and memory),
stopped at their deadline by the clock or when cancelled (`interrupt`), and answered by the event loop
at the deadline even if the guest is stuck in a host function. Worker threads run at a lower CPU
priority (`WORKER_NICE`): a flood of busy guests slows itself, not the loop that answers everyone else.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dream.limits import MAX_CALLS, MIN_MEMORY, SERVICE, Limits
from dream.process.priority import lower_thread_priority
from dream.substrate.admission import Admission
from dream.substrate.routing import Resource
from dream.wasm.engine import TICK_SECONDS
from dream.wasm.errors import WasmCancelled, WasmNeedsWorker, WasmTimeout, format_seconds
from dream.wasm.interrupt import CallControl

if TYPE_CHECKING:
    from dream.wasm.callpath import Serve, Served
    from dream.wasm.database import DataScope
    from dream.wasm.event import Trigger
    from dream.wasm.host import FunctionModule
    from dream.wasm.scope import FunctionScope
    from dream.wasm.types import HttpRequest, HttpResponse

log = logging.getLogger("dream.substrate")

INLINE_SLICE = 0.02  # seconds an inline call may run before it is moved to a worker thread
# An inline call stopped this long after its slice was not stopped by its guest: a busy guest is stopped
# at the tick after the slice's last (two ticks: one for the slice's rounding up, one for a late tick).
LATE_STOP = 2 * TICK_SECONDS
# Times in a row an inline call stopped by time the machine took runs again inline (`Runner._preempted`):
# a load burst can stop the rerun too (seen at load average 8 on 2 cores), and a guest that is busy is
# stopped as often, so this bounds what such a guest costs the event loop, once, to this many slices more.
PREEMPTED_RERUNS = 3
SLOW_INLINE = 0.002  # inline calls taking longer than this...
# ...this many times in a row send the function back to the workers. One slow call proves nothing: on a
# loaded machine the OS preempts the loop's thread for milliseconds in the middle of quick calls.
SLOW_STREAK = 3
# Worker calls are judged by CPU time: waiting for the GIL under load says nothing about the function.
QUICK_CPU = 0.0003  # worker calls using less CPU than this...
QUICK_STREAK = 20  # ...this many times, less SLOW_WORKER_COST per slower one, make a function run inline
# Quick calls a slower worker call takes off the streak: a function moves inline while fewer than one call
# in SLOW_WORKER_COST + 1 is slower. CPU time is no proof either: the first call after the process waited
# (for a request, or for a core) finds the caches cold and uses 3-10x the CPU of the next (a raw-path
# ping: ~350 against ~110 us), so a rule of QUICK_STREAK quick calls in a row kept a function called in
# bursts of under QUICK_STREAK on the workers for good.
SLOW_WORKER_COST = 4
# Quick worker calls (beyond QUICK_STREAK) a function that had to wait for its data inline needs before
# it runs inline again: one that writes on most calls then rarely pays for a given-up inline attempt.
NEEDS_WORKER_BACKOFF = 200
DEFAULT_MEMORY = 64 << 20
DEFAULT_TIMEOUT = 10.0
# Niceness of the threads that run wasm (Linux: per thread): the lowest CPU priority. Measured beside a loop
# of inline calls under 8 busy guests: 0.13x its unloaded rate at niceness 0, 0.53x at 10, 0.74x at 19.
WORKER_NICE = 19
# The loop answers a call this long after its deadline if its thread has not (a guest stuck in a host
# function); the thread normally stops the guest within a tick of the deadline.
LATE_ANSWER = 0.05


@dataclass(eq=False, slots=True)
class ReadyFunction:
    """A function resolved to its loaded module, with its limits, and where its calls run."""

    resource: Resource
    module: FunctionModule
    export: str
    timeout: float
    memory: int
    asked_timeout: float = 0.0  # its `execution.timeout`, when the substrate's ceiling clamped it
    inline: bool = False
    streak: int = 0  # quick worker calls in a row (slow inline calls in a row while inline)
    key: tuple[str, str] = ("", "")  # (project, function id): its calls' slots and line
    project: str = ""
    name: str = ""
    # How its log lines name it (`functions/<name>`): a build several functions share is loaded once,
    # and its module is named after the first of them.
    label: str = ""
    data: DataScope | None = None  # what its database host calls reach (functions that import them)
    scope: FunctionScope | None = None  # what its event host calls reach (self, HTTP client, pub-sub)
    # How an HTTP request runs in one C call with no HttpEvent (`FunctionModule.server`); None: `call`.
    serve: Serve | None = None

    @classmethod
    def of(cls, resource: Resource, module: FunctionModule, limits: Limits | None = None) -> ReadyFunction:
        limits = limits or Limits()
        config = resource.config
        timeout = float(config.get("timeout") or DEFAULT_TIMEOUT * 1e9) / 1e9
        memory = max(int(config.get("memory") or 0), MIN_MEMORY) if config.get("memory") else DEFAULT_MEMORY
        asked = 0.0
        if timeout > limits.timeout:
            asked, timeout = timeout, limits.timeout
            log.warning(
                "function %s of project %s: execution.timeout %s is above this substrate's ceiling; "
                "its calls stop after %s (raise `timeout` under `limits` of the %s in the universe's shape)",
                resource.name,
                resource.project,
                format_seconds(asked),
                format_seconds(timeout),
                SERVICE,
            )
        export = str(config.get("call") or "")
        label = f"functions/{resource.name}"
        return cls(
            resource,
            module,
            export,
            timeout,
            memory,
            asked,
            key=(resource.project, resource.id),
            project=resource.project,
            name=resource.name,
            label=label,
            serve=module.server(export, label),
        )


class Runner:
    """Calls functions for the substrate; `run` is awaited on the event loop."""

    def __init__(self, limits: Limits | None = None, *, workers: int = MAX_CALLS) -> None:
        self.limits = limits or Limits()
        self.admission = Admission(self.limits)
        # A thread per call admitted (by default): the admission limits, not the pool, decide what runs.
        self.executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="wasm", initializer=_lower_priority
        )
        self.stopped = 0  # worker calls stopped because their client went away
        self.rerun = 0  # inline calls given up because they had to wait for data, rerun on a worker
        self.preempted = 0  # inline calls stopped by time the machine took, rerun inline
        self.calls: set[CallControl] = set()  # worker calls running

    def close(self) -> None:
        for control in list(self.calls):  # their threads end within a tick or two
            control.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)

    def run_inline(
        self,
        fn: ReadyFunction,
        request: HttpRequest,
        message: Trigger | None = None,
        *,
        again: int = PREEMPTED_RERUNS,
    ) -> HttpResponse | None:
        """Run on this thread if the function runs inline; None if it does not (any more): use `run`.
        A call stopped at its slice by time the machine took (`_preempted`) runs again, `again` times
        at most."""
        if not fn.inline or not self.admission.memory_free(fn):
            return None
        # Wall time: an inline call runs on the event loop's thread, which nothing else uses meanwhile.
        started = time.perf_counter()
        try:
            result = fn.module.call(
                fn.export,
                request,
                timeout=min(fn.timeout, INLINE_SLICE),
                memory_limit=fn.memory,
                data=fn.data,
                scope=fn.scope,
                message=message,
                label=fn.label,
            )
        except WasmTimeout as exc:
            if self._rerun_inline(fn, started, again, exc):
                return self.run_inline(fn, request, message, again=again - 1)
            return None
        except WasmNeedsWorker:
            # It had to wait for its data (a write, a keyspace to load): nothing happened yet, so it
            # reruns on a worker, and earns its way back inline more slowly than a merely slow call.
            fn.inline, fn.streak = False, -NEEDS_WORKER_BACKOFF
            self.rerun += 1
            return None
        _timed_inline(fn, started)
        return result

    def serve_inline(
        self,
        fn: ReadyFunction,
        serve: Serve,
        method: bytes,
        host: bytes,
        path: bytes,
        *,
        again: int = PREEMPTED_RERUNS,
    ) -> tuple[Served, dict[str, int] | None] | None:
        """`run_inline` for a function whose HTTP calls take one C call (`fn.serve`): the answer as the
        HTTP server writes it and the host calls made; None if it does not run inline (any more)."""
        if not fn.inline or not self.admission.memory_free(fn):
            return None
        started = time.perf_counter()
        try:
            served = fn.module.serve(
                serve,
                fn.export,
                method,
                host,
                path,
                timeout=min(fn.timeout, INLINE_SLICE),
                memory_limit=fn.memory,
                label=fn.label,
            )
        except WasmTimeout as exc:
            if self._rerun_inline(fn, started, again, exc):
                return self.serve_inline(fn, serve, method, host, path, again=again - 1)
            return None
        _timed_inline(fn, started)
        return served

    def _rerun_inline(self, fn: ReadyFunction, started: float, again: int, stopped: WasmTimeout) -> bool:
        """After an inline call was stopped at its slice (`stopped`): True to run it again (stopped by
        time the machine took, `again` reruns left); False when it moves to the workers (its own timeout
        is longer than the slice); `stopped` raised when the slice was its own timeout."""
        if again and self._preempted(fn, started):
            return True
        if fn.timeout <= INLINE_SLICE:
            raise stopped
        fn.inline, fn.streak = False, 0
        return False

    def _preempted(self, fn: ReadyFunction, started: float) -> bool:
        """Whether an inline call stopped at its slice was stopped by time the machine took: the epoch
        ticker made up for ticks it had missed while the call ran (the process had no CPU for at least
        two ticks: 13 calls in 200,000 of a loop of inline calls at load average 25 on 2 cores), or the
        call was stopped later than its slice and a tick can explain (`LATE_STOP`: its thread had no
        CPU while the ticker kept time). Rerun, a fresh instance changes nothing but duplicate log
        lines; a guest that is busy is stopped again and moves to a worker."""
        ticker = fn.module.ticker
        if (
            ticker.caught_up < started
            and not ticker.catching_up
            and time.perf_counter() - started < min(fn.timeout, INLINE_SLICE) + LATE_STOP
        ):
            return False
        self.preempted += 1
        return True

    async def run(
        self,
        fn: ReadyFunction,
        request: HttpRequest,
        control: CallControl | None = None,
        message: Trigger | None = None,
    ) -> HttpResponse:
        """The function's response; raises the wasm host's errors (WasmTimeout, WasmError, ...),
        SubstrateBusy when a serving limit keeps it from starting, WasmCancelled once `control` is
        cancelled. The call's deadline (`control.deadline`) counts from its arrival: time spent
        waiting for a slot is part of its timeout. `message` makes it a pub-sub event (channel, data) or a p2p one."""
        result = self.run_inline(fn, request, message)
        if result is not None:
            return result
        if control is None:
            control = CallControl(time.monotonic() + fn.timeout)
        try:
            await self.admission.admit(fn, control)
        except asyncio.CancelledError:
            if control.cancelled:
                raise self._cancelled(fn) from None
            raise
        loop = asyncio.get_running_loop()
        done = loop.run_in_executor(self.executor, _timed_call, fn, request, control, message)
        self.calls.add(control)
        # The slot is held until the thread ends, whoever answered the client.
        done.add_done_callback(lambda ended: self._ended(fn, control, ended))
        answered: asyncio.Future[None] = loop.create_future()
        done.add_done_callback(lambda _: _settle(answered))
        late = loop.call_later(max(0.0, control.remaining()) + LATE_ANSWER, _settle, answered)
        control.on_cancel = lambda: _settle(answered)
        try:
            await answered
        finally:
            late.cancel()
            control.on_cancel = None
        if not done.done():
            if control.cancelled:
                raise self._cancelled(fn)
            control.cancel()  # stops the guest when it runs wasm again
            raise self._timeout(fn)
        try:
            result, cpu = done.result()
        except WasmTimeout:
            fn.streak = 0
            raise self._timeout(fn) from None
        except WasmCancelled:
            self.stopped += 1
            raise
        except BaseException:
            fn.streak = 0
            raise
        _timed_worker(fn, cpu)
        if fn.streak >= QUICK_STREAK and not fn.module.may_block:
            fn.inline, fn.streak = True, 0
        return result

    def _ended(
        self, fn: ReadyFunction, control: CallControl, done: asyncio.Future[tuple[HttpResponse, float]]
    ) -> None:
        self.calls.discard(control)
        self.admission.release(fn)
        if not done.cancelled():
            done.exception()  # read here: nobody else does when the loop answered first

    def _cancelled(self, fn: ReadyFunction) -> WasmCancelled:
        self.stopped += 1
        return WasmCancelled(f"function `{fn.name}` was stopped: its client went away", "client went away")

    def _timeout(self, fn: ReadyFunction) -> WasmTimeout:
        t = format_seconds(fn.timeout)
        if fn.asked_timeout:
            return WasmTimeout(
                f"function `{fn.name}` timed out after {t}: its execution.timeout of "
                f"{format_seconds(fn.asked_timeout)} is above this substrate's ceiling of {t} (raise `timeout` "
                f"under `limits` of the {SERVICE} in the universe's shape)",
                f"timed out after {t}",
            )
        return WasmTimeout(
            f"function `{fn.name}` timed out after {t}; make it return sooner or raise `execution.timeout`",
            f"timed out after {t}",
        )

    def health(self) -> dict[str, object]:
        admission = self.admission
        return {
            "running": admission.running,
            "queued": admission.queued,
            "memory_reserved": admission.memory,
            "stopped": self.stopped,
            "rerun": self.rerun,
            "preempted": self.preempted,
        }


def _timed_inline(fn: ReadyFunction, started: float) -> None:
    """Count an inline call that took longer than SLOW_INLINE; SLOW_STREAK in a row move the function
    to the workers."""
    if time.perf_counter() - started <= SLOW_INLINE:
        fn.streak = 0
    else:
        fn.streak += 1
        if fn.streak >= SLOW_STREAK:
            fn.inline, fn.streak = False, 0


def _timed_worker(fn: ReadyFunction, cpu: float) -> None:
    """Count a worker call towards its function's streak: one quick call more, or a slower one takes
    SLOW_WORKER_COST off it (not below nothing; a function backing off after `WasmNeedsWorker` keeps its
    debt)."""
    if cpu < QUICK_CPU:
        fn.streak += 1
    elif fn.streak > 0:
        fn.streak = max(0, fn.streak - SLOW_WORKER_COST)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _lower_priority() -> None:
    """Run this worker thread at a lower CPU priority than the event loop. Best effort: where niceness
    is not per thread it would slow the loop too, so it is skipped."""
    lower_thread_priority(WORKER_NICE)


def _timed_call(
    fn: ReadyFunction, request: HttpRequest, control: CallControl, message: Trigger | None = None
) -> tuple[HttpResponse, float]:
    started = time.thread_time()
    result = fn.module.call(
        fn.export,
        request,
        timeout=fn.timeout,
        memory_limit=fn.memory,
        control=control,
        data=fn.data,
        scope=fn.scope,
        message=message,
        label=fn.label,
    )
    return result, time.thread_time() - started
