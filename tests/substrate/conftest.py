"""Fixtures for the wasm host tests: a real WasmHost per test and WAT modules from ./wat."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import wasmtime

from dream.wasm import FunctionModule, HttpRequest, WasmHost

WAT_DIR = Path(__file__).parent / "wat"
MB = 1024 * 1024


def wat(name: str, **patches: str) -> bytes:
    """Assemble tests/substrate/wat/<name>.wat, after replacing each `key` text by its value."""
    text = (WAT_DIR / f"{name}.wat").read_text()
    for old, new in patches.items():
        assert old in text, f"patch target {old!r} not in {name}.wat"
        text = text.replace(old, new)
    return wasmtime.wat2wasm(text)


def get(path: str = "/ping", **kw: object) -> HttpRequest:
    fields: dict[str, object] = {"method": "GET", "host": "example.com:8080", "path": path}
    fields.update(kw)
    return HttpRequest(**fields)  # type: ignore[arg-type]


@pytest.fixture
def host(tmp_path: Path) -> Iterator[WasmHost]:
    h = WasmHost(tmp_path / "aot")
    try:
        yield h
    finally:
        h.stop()


@pytest.fixture
def load(host: WasmHost) -> Callable[..., FunctionModule]:
    def _load(name: str, **patches: str) -> FunctionModule:
        return host.load(f"test-{name}", wat(name, **patches), name=f"functions/{name}")

    return _load
