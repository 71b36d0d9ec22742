"""The wasmtime Engine of a `WasmHost` and the epoch ticker that enforces call timeouts."""

from __future__ import annotations

import logging
import threading
import time

import wasmtime

log = logging.getLogger("dream.wasm")

TICK_SECONDS = 0.01
MAX_CATCH_UP = 100  # ticks a late ticker makes up for at once (a second; more is forgotten)

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


class EpochTicker:
    """A daemon thread advancing the engine's epoch every 10 ms while at least one call is running.

    Idle, it blocks instead of waking 100 times a second; deadlines are relative to the epoch at call
    start, so pausing between calls changes nothing.
    """

    def __init__(self, engine: wasmtime.Engine) -> None:
        self._engine = engine
        self._running: list[None] = []  # one item per call running
        # When (time.perf_counter()) it last made up for ticks it missed at once: a call running then
        # may have been stopped for time the machine, not its guest, took (`Runner` reruns it inline).
        self.caught_up = 0.0
        self.halted = False  # `stopped`, as a plain attribute: read before every call
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
                self.caught_up = time.perf_counter()
            for _ in range(1 + missed):
                self._engine.increment_epoch()
            # Sleep again only once no call is running; `exit` does not clear, so a stream of short
            # calls costs no Event traffic. Cleared first, then checked: a call entering meanwhile
            # either saw the flag clear (and set it) or is seen here (and it is set again).
            if not self._running:
                self._busy.clear()
                if self._running:
                    self._busy.set()

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
