"""Which worker calls may start now: slots per function, per project and in all, and memory.

A call takes a slot of its function, of its project and of the substrate, and reserves its memory
limit (`execution.memory`) against the substrate's memory cap, until its thread ends. A call that does
not fit waits in its function's line (first come, first served), until a slot frees up or its
deadline passes: a slow function queues behind itself, never in front of other functions. Each limit
is one of `Limits` (set in the universe's shape); every refusal names it and says how to raise it.
Runs on the event loop only (no locks).
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import TYPE_CHECKING

from dream.limits import SERVICE, Limits, format_size
from dream.wasm.errors import SubstrateBusy, format_seconds

if TYPE_CHECKING:
    from dream.substrate.runner import ReadyFunction
    from dream.wasm.interrupt import CallControl


def _raise(limit: str) -> str:
    return f"raise `{limit}` under `limits` of the {SERVICE} in the universe's shape"


class _Waiter:
    __slots__ = ("deadline", "fn", "future")

    def __init__(self, fn: ReadyFunction, future: asyncio.Future[bool], deadline: float) -> None:
        self.fn = fn
        self.future = future  # True: admitted; False: its deadline passed or it was cancelled
        self.deadline = deadline


class Admission:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.running = 0
        self.memory = 0  # bytes reserved by running calls
        self.per_function: collections.Counter[tuple[str, str]] = collections.Counter()
        self.per_project: collections.Counter[str] = collections.Counter()
        self.lines: dict[tuple[str, str], collections.deque[_Waiter]] = {}  # function → its waiting calls
        self.queued = 0

    # -- state -----------------------------------------------------------------------------------------

    def blocker(self, fn: ReadyFunction) -> str | None:
        """Why `fn` cannot start a call now (a sentence), or None if it can."""
        limits = self.limits
        if self.per_function[fn.key] >= limits.calls_per_function:
            return (
                f"{limits.calls_per_function} calls of it were already running, the most this substrate "
                f"runs at once per function ({_raise('calls_per_function')})"
            )
        if self.per_project[fn.project] >= limits.calls_per_project:
            return (
                f"{limits.calls_per_project} calls of project {fn.project} were already running, the most "
                f"this substrate runs at once per project ({_raise('calls_per_project')})"
            )
        if self.running >= limits.calls:
            return (
                f"{limits.calls} calls were already running, the most this substrate runs at once "
                f"({_raise('calls')})"
            )
        if self.memory + fn.memory > limits.memory:
            return (
                f"the calls running held {format_size(self.memory)} of the {format_size(limits.memory)} "
                f"of memory this substrate gives all running calls, and it needs {format_size(fn.memory)} "
                f"(its `execution.memory`; {_raise('memory')})"
            )
        return None

    def memory_free(self, fn: ReadyFunction) -> bool:
        return self.memory + fn.memory <= self.limits.memory

    # -- admitting -------------------------------------------------------------------------------------

    async def admit(self, fn: ReadyFunction, control: CallControl) -> None:
        """Take a slot for a call of `fn`, waiting in line up to `control.deadline`; raises SubstrateBusy
        when it cannot start (in time), and CancelledError if cancelled meanwhile."""
        line = self.lines.get(fn.key)
        if not line and self.blocker(fn) is None:
            self._take(fn)
            return
        if fn.memory > self.limits.memory:
            raise SubstrateBusy(
                f"function `{fn.name}` asks for {format_size(fn.memory)} of memory (`execution.memory`), "
                f"more than the {format_size(self.limits.memory)} this substrate gives all running calls "
                f"together; lower its `execution.memory` or {_raise('memory')}",
                "memory cap",
            )
        if line is not None and len(line) >= self.limits.queued_per_function:
            raise SubstrateBusy(
                f"function `{fn.name}` has {len(line)} calls waiting to start already, the most this "
                f"substrate keeps waiting per function; {_raise('queued_per_function')}",
                "queue full",
            )
        waited = time.monotonic()
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(fn, future, control.deadline)
        if line is None:
            line = self.lines[fn.key] = collections.deque()
        line.append(waiter)
        self.queued += 1
        timer = asyncio.get_running_loop().call_later(max(0.0, control.remaining()), _settle, future, False)
        control.on_cancel = lambda: _settle(future, False)
        try:
            admitted = await future
        except BaseException:  # the task itself was cancelled (the server stops)
            if future.done() and not future.cancelled() and future.result():
                self.release(fn)  # admitted just before: give the slot back
            else:
                self._leave(waiter)
            raise
        finally:
            timer.cancel()
            control.on_cancel = None
        if admitted:
            return
        self._leave(waiter)
        if control.cancelled:
            raise asyncio.CancelledError
        why = self.blocker(fn) or "other calls of it were waiting before it"
        raise SubstrateBusy(
            f"function `{fn.name}` could not start within its timeout of {format_seconds(fn.timeout)} "
            f"(it waited {format_seconds(round(time.monotonic() - waited, 3))}): {why}",
            "no free slot",
        )

    def release(self, fn: ReadyFunction) -> None:
        """A call of `fn` ended (its thread is done): give its slot to the calls waiting."""
        self.running -= 1
        self.memory -= fn.memory
        self.per_function[fn.key] -= 1
        self.per_project[fn.project] -= 1
        if self.queued:
            self._wake()

    def _take(self, fn: ReadyFunction) -> None:
        self.running += 1
        self.memory += fn.memory
        self.per_function[fn.key] += 1
        self.per_project[fn.project] += 1

    def _leave(self, waiter: _Waiter) -> None:
        """A waiting call gives up (deadline, cancel): the calls behind it may fit now."""
        line = self.lines.get(waiter.fn.key)
        if line is None:
            return
        try:
            line.remove(waiter)
        except ValueError:
            return
        self.queued -= 1
        if not line:
            del self.lines[waiter.fn.key]
        if self.queued:
            self._wake()

    def _wake(self) -> None:
        """Start the calls at the head of each function's line that fit now."""
        now = time.monotonic()
        for key in list(self.lines):
            line = self.lines[key]
            while line:
                head = line[0]
                if head.future.done() or head.deadline <= now:  # gave up, or no time left to run
                    _settle(head.future, False)
                    line.popleft()
                    self.queued -= 1
                    continue
                if self.blocker(head.fn) is not None:
                    break
                line.popleft()
                self.queued -= 1
                self._take(head.fn)
                head.future.set_result(True)
            if not line:
                self.lines.pop(key, None)
            if self.running >= self.limits.calls:
                return


def _settle(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)
