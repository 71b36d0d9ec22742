"""WebAssembly host for Taubyte HTTP functions (the `taubyte/sdk` ABI on wasmtime-py)."""

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
