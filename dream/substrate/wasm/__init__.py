"""WebAssembly host for Taubyte HTTP functions (the `taubyte/sdk` ABI on wasmtime-py)."""

from dream.substrate.wasm.errors import WasmError, WasmLoadError, WasmMemoryLimit, WasmTimeout, WasmTrap
from dream.substrate.wasm.host import FunctionModule, WasmHost
from dream.substrate.wasm.types import HttpRequest, HttpResponse

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
