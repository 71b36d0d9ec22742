"""Errors raised by the wasm host; each message is one sentence naming the function and the cause."""

from __future__ import annotations

from dream.errors import DreamError


class WasmError(DreamError):
    """A function module could not be loaded or a call did not complete.

    `cause` is a short phrase (e.g. "timed out after 10s") that a caller can put in an HTTP 500 body.
    """

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


class WasmLoadError(WasmError):
    """Malformed wasm, a missing or mistyped export, or an import the host cannot resolve."""


class WasmTimeout(WasmError):
    """The call ran past its `execution.timeout`."""


class WasmNeedsWorker(WasmError):
    """A call running on a server's event loop needed to wait (a database write, a keyspace not loaded
    yet): it was given up before anything happened outside it; run it again on a worker thread."""


class WasmCancelled(WasmError):
    """The call was stopped because its client went away."""


class SubstrateBusy(WasmError):
    """The call was not started: a serving limit of the substrate (`dream.limits`) was reached."""


class WasmMemoryLimit(WasmError):
    """The module needed more linear memory than `execution.memory` allows."""


class WasmTrap(WasmError):
    """The guest trapped (unreachable, out-of-bounds access, unsupported host function, non-zero exit...)."""


def format_bytes(n: int) -> str:
    """Render a memory size the way function configs write it (10MB, 512KB)."""
    mib, kib = 1024 * 1024, 1024
    if n >= mib:
        return f"{n // mib}MB" if n % mib == 0 else f"{n / mib:.1f}MB"
    if n >= kib:
        return f"{n // kib}KB" if n % kib == 0 else f"{n / kib:.1f}KB"
    return f"{n}B"


def format_seconds(s: float) -> str:
    """Render a timeout compactly (10s, 1.5s, 200ms)."""
    if s >= 1:
        return f"{s:g}s"
    return f"{s * 1000:g}ms"
