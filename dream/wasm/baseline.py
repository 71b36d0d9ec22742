"""The baseline compiler (wasmtime's Winch) for freshly saved code: a Go module compiles in a fifth to a
tenth of the optimizing compiler's time (0.4-0.8 s instead of 3-5 s), most of what a Go save in `dream
watch` used to wait for.

Winch makes code that runs slower than Cranelift's, and a module it compiled loads only into an engine
that uses it. A `WasmHost` therefore keeps a second engine, with its own epoch ticker, for the builds
compiled this way (`BaselineRuntime`, made on first use); every limit is the Store's (memory) or the
epoch's (timeouts), so it holds the same on both engines. Only the working-copy deploys of `dream
watch` ask for it; a push compiles with the optimizing compiler, so the next push gives the function
optimized code again.

`DREAM_WASM_COMPILER=baseline` makes every compile of the process use it (a machine where compile time
matters more than run time, and the test suite's check that every limit holds on Winch's code);
`DREAM_WASM_COMPILER=optimizing` never uses it (saves too: a watched function measured at full speed).

Its compiled modules share the machine's cache directory under their own tag (`baseline_settings`).
"""

from __future__ import annotations

import os
from pathlib import Path

import wasmtime

from dream.wasm.cache import TRAMPOLINE_OPT_LEVEL, TRAMPOLINE_REGALLOC, ModuleCache, baseline_settings
from dream.wasm.engine import EpochTicker, _pooling

COMPILER_SETTING = "DREAM_WASM_COMPILER"
# auto: the baseline compiler for working-copy saves, the optimizing one for everything else;
# baseline / optimizing: that compiler for every compile (saves included).
COMPILERS = ("auto", "baseline", "optimizing")
WINCH = 2  # wasmtime_strategy_t: WASMTIME_STRATEGY_WINCH (wasmtime-py's `Config.strategy` lacks it)
# wasmtime_regalloc_algorithm_t (wasmtime-py has no setter of its own).
REGALLOC_ALGORITHMS = {"backtracking": 0, "single_pass": 1}
# One thread per compile: wasmtime's parallel compile spent ~20% more CPU on a Go module (262 ms
# against 212 ms) for no shorter wall time on 2 busy cores, where the save's zip, stash and other
# processes want the second core anyway.
PARALLEL_COMPILATION = False


def compiler_setting() -> str:
    """`DREAM_WASM_COMPILER` (default auto); ValueError naming the accepted values for anything else."""
    value = os.environ.get(COMPILER_SETTING, "").strip().lower() or "auto"
    if value not in COMPILERS:
        raise ValueError(
            f"{COMPILER_SETTING}={value!r} is not a compiler setting; use one of: {', '.join(COMPILERS)}"
        )
    return value


def everything_baseline() -> bool:
    """Whether every compile of this process uses the baseline compiler."""
    return compiler_setting() == "baseline"


def wants_baseline(asked: bool) -> bool:
    """Whether a compile that asks for the baseline compiler (`asked`) gets it."""
    return compiler_setting() != "optimizing" and (asked or everything_baseline()) and available()


def available() -> bool:
    """Whether this wasmtime-py can switch an engine to Winch (through its C bindings); without them,
    every compile uses the optimizing compiler."""
    try:
        from wasmtime import _ffi as ffi
    except ImportError:
        return False
    return hasattr(ffi, "wasmtime_config_strategy_set") and hasattr(
        ffi, "wasmtime_config_cranelift_regalloc_algorithm_set"
    )


def make_baseline_engine(*, pooling: bool) -> wasmtime.Engine:
    """An engine like the optimizing one (epoch interruption, the same memory layout: `pooling` when
    that one got the pooling allocator), compiling with Winch."""
    cfg = wasmtime.Config()
    cfg.epoch_interruption = True
    # Cranelift still compiles the trampolines between the host and Winch's code (a third of a Go
    # module's compile): glue that gains nothing from optimizing, compiled ~20% faster without.
    cfg.cranelift_opt_level = TRAMPOLINE_OPT_LEVEL
    cfg.parallel_compilation = PARALLEL_COMPILATION
    from wasmtime import _ffi as ffi

    ffi.wasmtime_config_strategy_set(cfg.ptr(), WINCH)
    # Go puts every function in its table, so each gets a trampoline (~1,300 for a template): the
    # single-pass register allocator compiles them in less time; the Winch engine's compile uses ~17%
    # less CPU. The trampolines only move arguments between the host's and the guest's conventions.
    ffi.wasmtime_config_cranelift_regalloc_algorithm_set(cfg.ptr(), REGALLOC_ALGORITHMS[TRAMPOLINE_REGALLOC])
    if pooling:
        _pooling(cfg)  # the same allocator, so code compiled for it has the same memory bounds
    return wasmtime.Engine(cfg)


class BaselineRuntime:
    """The baseline engine of a host, its share of the module cache and its epoch ticker."""

    def __init__(self, directory: Path, settings: str, *, pooling: bool) -> None:
        self.engine = make_baseline_engine(pooling=pooling)
        self.cache = ModuleCache(self.engine, directory, baseline_settings(settings))
        self.ticker = EpochTicker(self.engine)

    def stop(self) -> None:
        self.ticker.stop()
