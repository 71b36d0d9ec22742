"""A measured call (what `dream run function` makes) reports the guest's memory on every call path; an
unmeasured one (what the substrate makes) does not pay for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from dream.wasm import WasmHost
from dream.wasm.callpath import ENV
from tests.substrate.conftest import get, wat


@pytest.mark.parametrize("name", ("raw", "object", "plain"))
def test_each_call_path_reports_the_memory_of_a_measured_call(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, name)
    with WasmHost(tmp_path) as host:
        assert host.call_path.name == name
        module = host.load("t", wat("ping"), name="functions/ping")
        measured = module.call("ping", get(), timeout=5, memory_limit=16 << 20, measure=True)
        assert (measured.status, measured.body, measured.memory) == (200, b"PONG", 65536)
        plain = module.call("ping", get(), timeout=5, memory_limit=16 << 20)
        assert (plain.body, plain.memory) == (b"PONG", None)
