"""The wasmtime Engine of a `WasmHost` and the epoch ticker that enforces call timeouts."""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import signal
import threading
import time
from collections.abc import Callable

import wasmtime

log = logging.getLogger("dream.wasm")

TICK_SECONDS = 0.01
MAX_CATCH_UP = 100  # ticks a late ticker makes up for at once (a second; more is forgotten)
# Tests only: the ticker stops its own process (SIGSTOP) at one tick in this many at which a call is
# running, so that a test can give the process no CPU exactly while a call runs (`_stop_process`).
STOP_ENV = "DREAM_TEST_TICKER_STOPS"

# Pooling allocator sizing. Slots are reserved virtual memory, committed only when used.
POOL_SLOTS = 256  # concurrent instances (calls in flight) per process
POOL_MAX_MEMORY = 4 << 30  # = tau's cap of 65536 pages
POOL_TABLE_ELEMENTS = 200_000  # Go modules have large function tables
POOL_MAX_INSTANCE_SIZE = 8 << 20  # VMContext size; grows with the number of escaping functions
POOL_KEEP_RESIDENT = 1 << 20  # reset the first 1 MiB of a memory with memset instead of page faults


def _pooling(cfg: wasmtime.Config) -> bool:
    """Switch `cfg` to the pooling allocator; False if this wasmtime-py lacks the C symbols.

    Per-request instantiation with the default allocator maps fresh memory and page-faults on first
    touch (~20 us per call); the pool keeps slots mapped and resident between instances.
    """
    try:
        from wasmtime import _ffi as ffi

        pc = ffi.wasmtime_pooling_allocation_config_new()
        try:
            ffi.wasmtime_pooling_allocation_config_total_memories_set(pc, POOL_SLOTS)
            ffi.wasmtime_pooling_allocation_config_total_tables_set(pc, POOL_SLOTS)
            ffi.wasmtime_pooling_allocation_config_total_core_instances_set(pc, POOL_SLOTS)
            ffi.wasmtime_pooling_allocation_config_total_stacks_set(pc, POOL_SLOTS)
            ffi.wasmtime_pooling_allocation_config_max_memory_size_set(pc, POOL_MAX_MEMORY)
            ffi.wasmtime_pooling_allocation_config_table_elements_set(pc, POOL_TABLE_ELEMENTS)
            ffi.wasmtime_pooling_allocation_config_max_core_instance_size_set(pc, POOL_MAX_INSTANCE_SIZE)
            ffi.wasmtime_pooling_allocation_config_linear_memory_keep_resident_set(pc, POOL_KEEP_RESIDENT)
            ffi.wasmtime_pooling_allocation_strategy_set(cfg.ptr(), pc)  # copies the pooling config
        finally:
            ffi.wasmtime_pooling_allocation_config_delete(pc)
    except (ImportError, AttributeError):  # pragma: no cover - depends on the installed wasmtime-py
        return False
    return True


def make_engine(*, pooling: bool) -> tuple[wasmtime.Engine, str, bool]:
    """An Engine with epoch interruption, a string describing every setting that affects
    compiled code (part of the AOT cache key), and whether it got the pooling allocator."""
    cfg = wasmtime.Config()
    cfg.epoch_interruption = True
    cfg.cranelift_opt_level = "speed"
    pooled = pooling and _pooling(cfg)
    settings = f"epoch_interruption=1;cranelift_opt_level=speed;pooling={int(pooled)}"
    return wasmtime.Engine(cfg), settings, pooled


def _increment_keeping_gil(engine: wasmtime.Engine) -> Callable[[], None]:
    """`engine.increment_epoch`, through a handle that keeps the GIL (an atomic add in C: releasing the
    GIL around it costs more). Several of them in a row (a catch-up) are then one step to the Python
    threads: no call can start in the middle of one."""
    try:
        from wasmtime import _ffi as ffi

        increment = ctypes.PyDLL(ffi.dll._name).wasmtime_engine_increment_epoch
        increment.restype = None
        increment.argtypes = [ctypes.c_void_p]
        return functools.partial(increment, ctypes.cast(engine.ptr(), ctypes.c_void_p).value)
    except (ImportError, AttributeError):  # pragma: no cover - depends on the installed wasmtime-py
        return engine.increment_epoch


def _stop_every() -> int:
    """`STOP_ENV` as ticks (0: unset); ValueError for anything but a whole number >= 1."""
    text = os.environ.get(STOP_ENV, "").strip()
    if not text:
        return 0
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{STOP_ENV}={text!r}: expected a whole number of ticks >= 1 (tests only), or unset")
    return int(text)


class EpochTicker:
    """A daemon thread advancing the engine's epoch every 10 ms while at least one call is running.

    Idle, it blocks instead of waking 100 times a second; deadlines are relative to the epoch at call
    start, so pausing between calls changes nothing.
    """

    def __init__(self, engine: wasmtime.Engine) -> None:
        self._engine = engine
        self._increment = _increment_keeping_gil(engine)
        self._running: list[None] = []  # one item per call running
        # When (time.perf_counter()) it last made up for ticks it missed at once, and whether it is doing
        # so now: a call running then may have been stopped for time the machine, not its guest, took
        # (`Runner` reruns it inline).
        self.caught_up = 0.0
        self.catching_up = False
        self.halted = False  # `stopped`, as a plain attribute: read before every call
        self._stop_every = _stop_every()
        self._ticks = 0
        self._busy = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wasm-epoch-ticker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        due = time.monotonic()
        while True:
            if not self._busy.is_set():
                self._busy.wait()
                due = time.monotonic()  # a tick's full length after an idle pause
            due += TICK_SECONDS
            if self._stopped.wait(max(0.0, due - time.monotonic())):
                return
            # The epoch follows the clock: a ticker that got the CPU late (a loaded machine) makes up
            # for the ticks it missed at once. Counting waits of 10 ms instead stretched every deadline
            # with the load (a 30 s timeout ended 4 s late).
            late = int((time.monotonic() - due) / TICK_SECONDS)
            missed = min(late, MAX_CATCH_UP)
            due += TICK_SECONDS * (missed if late <= MAX_CATCH_UP else late)
            if missed:
                # Marked before and after: whenever a call stopped by these ticks looks, it sees one.
                self.catching_up = True
                for _ in range(1 + missed):
                    self._increment()
                self.caught_up = time.perf_counter()
                self.catching_up = False
            else:
                self._increment()
            if self._stop_every and self._running and not missed:
                self._stop_process()
            # Sleep again only once no call is running; `exit` does not clear, so a stream of short
            # calls costs no Event traffic. Cleared first, then checked: a call entering meanwhile
            # either saw the flag clear (and set it) or is seen here (and it is set again).
            if not self._running:
                self._busy.clear()
                if self._running:
                    self._busy.set()

    def _stop_process(self) -> None:
        """`STOP_ENV` (tests only): stop this process (SIGSTOP) at one tick in `_stop_every` at which a
        call is running (of those that were on time: the one that catches up after a stop leaves the
        call's thread a tick to be stopped at its deadline). This thread holds the GIL here, so the call's thread is in a C call that
        released it: instantiating or running the guest (or waiting to take the GIL back). Whoever
        continues the process (SIGCONT) decides how long it had no CPU; the ticker then catches up."""
        self._ticks += 1
        if self._ticks % self._stop_every == 0:
            os.kill(os.getpid(), signal.SIGSTOP)

    def enter(self) -> None:
        # No lock: list.append and list.pop are atomic, and a call's own thread is the one that
        # pops for it (an inline call costs two lock round trips less).
        self._running.append(None)
        if not self._busy.is_set():
            self._busy.set()

    def exit(self) -> None:
        self._running.pop()

    @property
    def stopped(self) -> bool:
        return self.halted

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self.halted = True
        self._stopped.set()
        self._busy.set()
        self._thread.join(timeout=5)
