"""A Go function that never names `Url` is built without net/url (the SDK's `dream_without_net_url`
tag), ~400 KB less module to link, deflate and compile; a function that names it, or that the tag could
break, gets the whole SDK."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dream.builders import build_function
from dream.builders.languages import GO_WITHOUT_NET_URL_TAG, prepare_go_module
from tests.builders.harness import Request, run
from tests.builders.test_builders import PING_PONG, TEMPLATES, require_toolchain

TAG = f"-tags={GO_WITHOUT_NET_URL_TAG}"
# net/netip's names: net/url brings it, and it is most of net/url's weight.
NET_URL_MARK = b"netip"


def built(src: Path, tmp_path: Path) -> Path:
    result = build_function(src, cache_dir=tmp_path / "cache", log=lambda line: None)
    assert result.ok and result.wasm is not None, result.log
    return result.wasm


@pytest.mark.language
def test_a_function_that_never_names_url_is_built_without_net_url(tmp_path: Path) -> None:
    require_toolchain("go")
    wasm = built(PING_PONG / "go", tmp_path)
    assert NET_URL_MARK not in wasm.read_bytes()
    assert bytes(run(wasm, "ping", Request()).body) == b"PONG"


@pytest.mark.language
def test_a_function_that_names_url_gets_the_whole_sdk(tmp_path: Path) -> None:
    require_toolchain("go")
    src = tmp_path / "room"
    shutil.copytree(TEMPLATES / "chat" / "go" / "functions" / "room", src)
    wasm = built(src, tmp_path)
    assert NET_URL_MARK in wasm.read_bytes()


@pytest.mark.parametrize(
    ("gomod", "goflags", "tagged"),
    [
        ("module function\n", None, True),
        ("module function\n", "-mod=mod", True),
        # A module the function requires may call Url: the whole SDK.
        ("module function\n\nrequire example.com/lib v1.0.0\n", None, False),
        # The function's own tags: `-tags` on the command line would replace them.
        ("module function\n", "-mod=mod -tags=mine", False),
    ],
)
def test_which_builds_leave_net_url_out(
    tmp_path: Path, gomod: str, goflags: str | None, tagged: bool
) -> None:
    require_toolchain("go")
    src = tmp_path / "src"
    shutil.copytree(PING_PONG / "go", src)
    (src / "go.mod").write_text(gomod)
    command = prepare_go_module(src, tmp_path / "out.wasm", tmp_path, goflags=goflags)
    assert (TAG in command) is tagged
    (src / "ping.go").write_text((src / "ping.go").read_text() + "\n// see node.WebSocket.Url\n")
    assert TAG not in prepare_go_module(src, tmp_path / "out.wasm", tmp_path, goflags=goflags)
