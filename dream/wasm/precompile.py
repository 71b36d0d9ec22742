"""Compile a build for the substrates before its first request: the producer side of `ModuleCache`.

Monkey calls `precompile` for every function it builds. The module is compiled with the substrates'
engine settings into the machine's cache and named after the CID its build is stored under, so a
substrate loads it without downloading or compiling (`WasmHost.load_cid`). It is also pre-linked
against the host functions: a module no substrate could load fails its build, not its first request.
With `baseline`, the baseline compiler does it (`dream.wasm.baseline`): ten times faster, slower code.

`compile_module` and `Compiled.name_build` are its two halves: a build compiles the module while it
zips and stores the artefact (the CID is known only then), and names it after that CID at the end.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from dream.wasm.cache import ModuleCache
from dream.wasm.host import WasmHost

_host: WasmHost | None = None
_lock = threading.Lock()


@dataclass(frozen=True)
class Compiled:
    """A module compiled into the machine's cache, by the cache of the compiler that did it."""

    cache: ModuleCache
    path: Path
    seconds: float

    def name_build(self, cid: str) -> None:
        """Name it after the build stored as `cid`: the substrates find it by that name."""
        self.cache.put(cid, self.path)


def _machine_host() -> WasmHost:
    global _host
    with _lock:
        if _host is None:
            _host = WasmHost()  # the machine's cache directory, the substrates' engine settings
        return _host


def compile_module(wasm: bytes, name: str, *, baseline: bool = False) -> Compiled:
    """Compile and pre-link `wasm` (a module or `.zwasm` artefact) into the machine's module cache.
    Raises WasmLoadError when the module does not compile or link."""
    started = time.monotonic()
    host = _machine_host()
    if baseline and host.cache.path_for(wasm).exists():
        baseline = False  # the optimizing compiler's code for these bytes is there already: use it
    module = host.load(name, wasm, name=name, baseline=baseline)
    cache = host.baseline().cache if module.baseline else host.cache
    return Compiled(cache, module.cache_path, time.monotonic() - started)


def precompile(wasm: bytes, name: str, cid: str = "", *, baseline: bool = False) -> float:
    """Compile and pre-link `wasm` into the machine's module cache and, given the `cid` its build is
    stored under, name it after that; returns the seconds it took."""
    compiled = compile_module(wasm, name, baseline=baseline)
    if cid:
        compiled.name_build(cid)
    return compiled.seconds
