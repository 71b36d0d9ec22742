"""Compile a build for the substrates before its first request: the producer side of `ModuleCache`.

Monkey calls `precompile` for every function it builds. The module is compiled with the substrates'
engine settings into the machine's cache and named after the CID its build is stored under, so a
substrate loads it without downloading or compiling (`WasmHost.load_cid`). It is also pre-linked
against the host functions: a module no substrate could load fails its build, not its first request.
With `baseline`, the baseline compiler does it (`dream.wasm.baseline`): ten times faster, slower code.
"""

from __future__ import annotations

import threading
import time

from dream.wasm.host import WasmHost

_host: WasmHost | None = None
_lock = threading.Lock()


def precompile(wasm: bytes, name: str, cid: str = "", *, baseline: bool = False) -> float:
    """Compile and pre-link `wasm` (a module or `.zwasm` artefact) into the machine's module cache and,
    given the `cid` its build is stored under, name it after that; returns the seconds it took.
    Raises WasmLoadError when the module does not compile or link."""
    global _host
    started = time.monotonic()
    with _lock:
        if _host is None:
            _host = WasmHost()  # the machine's cache directory, the substrates' engine settings
        if baseline and _host.cache.path_for(wasm).exists():
            baseline = False  # the optimizing compiler's code for these bytes is there already: use it
    module = _host.load(name, wasm, name=name, baseline=baseline)
    if cid:
        (_host.baseline() if module.baseline else _host).cache.put(cid, module.cache_path)
    return time.monotonic() - started
