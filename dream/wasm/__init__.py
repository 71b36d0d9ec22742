"""WebAssembly host for Taubyte HTTP functions (the `taubyte/sdk` ABI on wasmtime-py).

A library shared by the services that run or compile functions (the substrate serves with `WasmHost`;
monkey compiles builds ahead with `precompile`); it imports no service. The machine's compiled modules
are its contract with both (`cache.ModuleCache`); how calls reach wasmtime is chosen once per process
(`callpath`, `selftest`, `DREAM_WASM_CALL`).
"""

from dream.wasm.errors import WasmError, WasmLoadError, WasmMemoryLimit, WasmTimeout, WasmTrap
from dream.wasm.host import FunctionModule, WasmHost
from dream.wasm.types import HttpRequest, HttpResponse

__all__ = [
    "FunctionModule",
    "HttpRequest",
    "HttpResponse",
    "WasmError",
    "WasmHost",
    "WasmLoadError",
    "WasmMemoryLimit",
    "WasmTimeout",
    "WasmTrap",
]
