"""Storages and globals from the Rust and AssemblyScript SDKs: functions built by monkey add, read,
list and delete storage files and get and put globals at each scope."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from dream.builders.toolchains import find_toolchains
from dream.testing.harness import UniverseHandle
from tests.data.conftest import substrates

pytestmark = pytest.mark.e2e

SDKDATA = Path(__file__).parent / "projects" / "sdkdata"
HOST = {"host": "sdk.data.com"}
FOUND = {t.name: t for t in find_toolchains()}
LANGS = {"rust": "/rsdata", "assemblyscript": "/asdata"}


@pytest.fixture(scope="module")
def sdkdata(data: UniverseHandle) -> UniverseHandle:
    data.client.fixture(data.name, "buildLocalProject", ["", "", str(SDKDATA), ""])
    return data


def call(url: str, path: str, op: str, name: str = "", value: str = "", **params: str) -> httpx.Response:
    query = {"op": op, "name": name, **params}
    if path == "/rsdata":  # Rust reads the value from the body
        return httpx.post(f"{url}{path}", params=query, content=value, headers=HOST, timeout=60)
    return httpx.get(f"{url}{path}", params={**query, "v": value}, headers=HOST, timeout=60)


@pytest.mark.language
@pytest.mark.parametrize("lang", sorted(LANGS))
def test_storage_and_globals_from_rust_and_assemblyscript(sdkdata: UniverseHandle, lang: str) -> None:
    chain = FOUND.get(lang)
    if chain is None or not chain.found:
        pytest.skip(f"the {lang} toolchain is missing")
    path = LANGS[lang]
    one, other = substrates(sdkdata)
    name = f"{lang}.txt"
    assert call(one, path, "add", name, "first").text == "version 1"
    assert call(one, path, "add", name, "second, longer").text == "version 2"
    assert call(other, path, "read", name, version="1").text == "first"
    assert call(other, path, "read", name).text == "second, longer"  # version 0: the latest
    assert name in call(other, path, "list").text.split(",")
    missing = call(one, path, "read", name, version="7")
    assert (missing.status_code, missing.text) == (500, "errno 90")  # no such version (upstream)
    assert call(one, path, "delete", name, version="1").text == "deleted"
    assert call(one, path, "read", name, version="1").text == "errno 90"
    assert call(one, path, "delete", name).text == "deleted"  # every version
    assert name not in call(one, path, "list").text.split(",")
    for scope in ("project", "application", "function"):
        value = f"{lang} at {scope}"
        assert call(one, path, "gput", "greeting", value, scope=scope).text == "put"
        assert call(other, path, "gget", "greeting", scope=scope).text == value
    # Each function's own scope is its own: the other language's function does not see it.
    assert call(one, path, "gget", f"only-{lang}", scope="function").text == "errno 29"
