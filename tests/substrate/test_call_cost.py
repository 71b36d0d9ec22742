"""What a wasm call cost, as the request inspector reports it: instantiation and guest time, memory pages
and host calls by name, measured by the raw call path on a real WAT guest, only while host calls are
counted (the substrate turns counting on with its inspector)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dream.wasm import WasmHost, hostcall
from tests.substrate.conftest import MB, get, wat


@pytest.fixture
def counting_host(tmp_path: Path) -> Iterator[WasmHost]:
    hostcall.count_calls(True)
    host = WasmHost(tmp_path / "aot")
    try:
        yield host
    finally:
        host.stop()
        hostcall.count_calls(False)


def test_a_call_reports_its_cost(counting_host: WasmHost) -> None:
    if counting_host.call_path.name != "raw":
        pytest.skip("only the raw call path measures a call's cost")
    module = counting_host.load("cost-ping", wat("ping"), name="functions/ping")
    first = module.call("ping", get(), timeout=2, memory_limit=16 * MB)
    second = module.call("ping", get(method="POST"), timeout=2, memory_limit=16 * MB)
    assert first.body == b"PONG"
    assert first.instantiate_ns > 0 and first.wasm_ns > 0
    assert first.pages >= 1
    assert first.host_calls is not None and first.host_calls.get("getHttpEventMethodSize") == 1
    assert "eventHttpWrite" in first.host_calls and sum(first.host_calls.values()) >= 4
    # Each call counts its own host calls: the 405 path writes no body.
    assert second.status == 405
    assert second.host_calls is not None and "eventHttpWrite" not in second.host_calls


def test_without_counting_a_call_measures_nothing(tmp_path: Path) -> None:
    with WasmHost(tmp_path / "aot") as host:
        answer = host.load("plain-ping", wat("ping"), name="functions/ping").call(
            "ping", get(), timeout=2, memory_limit=16 * MB
        )
    assert answer.body == b"PONG"
    assert (answer.instantiate_ns, answer.wasm_ns, answer.pages, answer.host_calls) == (0, 0, 0, None)
