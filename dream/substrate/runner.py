"""Runs a function's wasm for one request: inline on the event loop when it is known to be quick, else on
a worker thread.

Handing a call to a thread costs more than a small call itself (and every ctypes call into wasmtime
then contends for the GIL with the event loop), so a function whose calls have been cheap runs inline.
Inline calls get a short epoch deadline: one that runs past it is stopped, rerun on a worker thread
with its full timeout, and runs there from then on, so a busy function stalls the loop for at most
`INLINE_SLICE`. Functions able to wait (sleep, poll) never run inline. A function's only effects are
its buffered response and its log lines, so a rerun changes nothing but duplicate log lines.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dream.substrate.routing import Resource
from dream.substrate.wasm.errors import WasmTimeout

if TYPE_CHECKING:
    from dream.substrate.wasm.host import FunctionModule
    from dream.substrate.wasm.types import HttpRequest, HttpResponse

INLINE_SLICE = 0.02  # seconds an inline call may run before it is moved to a worker thread
SLOW_INLINE = 0.002  # inline calls taking longer than this...
# ...this many times in a row send the function back to the workers. One slow call proves nothing: on a
# loaded machine the OS preempts the loop's thread for milliseconds in the middle of quick calls.
SLOW_STREAK = 3
# Worker calls are judged by CPU time: waiting for the GIL under load says nothing about the function.
QUICK_CPU = 0.0003  # worker calls using less CPU than this...
QUICK_STREAK = 20  # ...this many times in a row make a function run inline
MIN_MEMORY = 64 * 1024
DEFAULT_MEMORY = 64 << 20
DEFAULT_TIMEOUT = 10.0


@dataclass(eq=False, slots=True)
class ReadyFunction:
    """A function resolved to its loaded module, with its limits, and where its calls run."""

    resource: Resource
    module: FunctionModule
    export: str
    timeout: float
    memory: int
    inline: bool = False
    streak: int = 0  # quick worker calls in a row (slow inline calls in a row while inline)

    @classmethod
    def of(cls, resource: Resource, module: FunctionModule) -> ReadyFunction:
        config = resource.config
        timeout = float(config.get("timeout") or DEFAULT_TIMEOUT * 1e9) / 1e9
        memory = max(int(config.get("memory") or 0), MIN_MEMORY) if config.get("memory") else DEFAULT_MEMORY
        return cls(resource, module, str(config.get("call") or ""), timeout, memory)


class Runner:
    """Calls functions for the substrate; `run` is awaited on the event loop."""

    def __init__(self, workers: int = 8) -> None:
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="wasm")

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    def run_inline(self, fn: ReadyFunction, request: HttpRequest) -> HttpResponse | None:
        """Run on this thread if the function runs inline; None if it does not (any more): use `run`."""
        if not fn.inline:
            return None
        # Wall time: an inline call runs on the event loop's thread, which nothing else uses meanwhile.
        started = time.perf_counter()
        try:
            result = fn.module.call(
                fn.export, request, timeout=min(fn.timeout, INLINE_SLICE), memory_limit=fn.memory
            )
        except WasmTimeout:
            if fn.timeout <= INLINE_SLICE:
                raise
            fn.inline, fn.streak = False, 0
            return None
        if time.perf_counter() - started <= SLOW_INLINE:
            fn.streak = 0
        else:
            fn.streak += 1
            if fn.streak >= SLOW_STREAK:
                fn.inline, fn.streak = False, 0
        return result

    async def run(self, fn: ReadyFunction, request: HttpRequest) -> HttpResponse:
        """The function's response; raises the wasm host's errors (WasmTimeout, WasmError, ...)."""
        result = self.run_inline(fn, request)
        if result is not None:
            return result
        loop = asyncio.get_running_loop()
        try:
            result, cpu = await loop.run_in_executor(self.executor, _timed_call, fn, request)
        except BaseException:
            fn.streak = 0
            raise
        fn.streak = fn.streak + 1 if cpu < QUICK_CPU else 0
        if fn.streak >= QUICK_STREAK and not fn.module.may_block:
            fn.inline, fn.streak = True, 0
        return result


def _timed_call(fn: ReadyFunction, request: HttpRequest) -> tuple[HttpResponse, float]:
    started = time.thread_time()
    result = fn.module.call(fn.export, request, timeout=fn.timeout, memory_limit=fn.memory)
    return result, time.thread_time() - started
