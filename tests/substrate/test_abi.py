"""The taubyte/sdk HTTP event functions, driven by WAT guests written against the taubyte/sdk ABI."""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable

import pytest

from dream.wasm import FunctionModule, HttpResponse, WasmTrap
from tests.substrate.conftest import MB, get


def codes(body: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(body) // 4}I", body))


def run(module: FunctionModule, export: str, **req: object) -> HttpResponse:
    return module.call(export, get(**req), timeout=2, memory_limit=16 * MB)  # type: ignore[arg-type]


@pytest.fixture
def abi(load: Callable[..., FunctionModule]) -> FunctionModule:
    return load("abi")


def test_ping_get_returns_pong_with_content_type(load: Callable[..., FunctionModule]) -> None:
    resp = run(load("ping"), "ping")
    assert (resp.status, resp.body) == (200, b"PONG")
    assert resp.headers == [("Content-Type", "text/plain")]


def test_ping_wrong_method_is_405(load: Callable[..., FunctionModule]) -> None:
    resp = run(load("ping"), "ping", method="POST")
    assert (resp.status, resp.body) == (405, b"")


def test_request_values_size_then_data(abi: FunctionModule) -> None:
    headers = [("user-agent", "curl/8.0"), ("X-Test", "first"), ("x-test", "second"), ("Host", "ignored")]
    assert run(abi, "method", method="PATCH").body == b"PATCH"
    assert run(abi, "host").body == b"example.com:8080"
    assert run(abi, "path", path="/a/b c").body == b"/a/b c"
    assert run(abi, "agent", headers=headers).body == b"curl/8.0"
    # lookup is case-insensitive and returns the first value
    assert run(abi, "header", headers=headers).body == b"first"
    assert run(abi, "header").body == b""  # absent header: size 0


def test_header_keys_both_spellings(abi: FunctionModule) -> None:
    headers = [("content-type", "a"), ("X-Test", "b"), ("x-test", "c"), ("Host", "h")]
    expected = b"Content-Type\0X-Test\0"  # canonical, unique, Host excluded (Go moves it out of r.Header)
    assert run(abi, "header_keys", headers=headers).body == expected
    assert run(abi, "header_keys_go", headers=headers).body == expected


def test_query_value_and_keys(abi: FunctionModule) -> None:
    query = [("q", "hello world"), ("page", "2"), ("q", "later"), ("Q", "other")]
    assert run(abi, "query", query=query).body == b"hello world"
    assert run(abi, "query_keys", query=query).body == b"q\0page\0Q\0"
    assert run(abi, "query").body == b""


def test_body_read_in_small_chunks_until_eof(abi: FunctionModule) -> None:
    resp = run(abi, "body", method="POST", body=b"abcdefgh")
    chunks, code = resp.body[:-4], codes(resp.body[-4:])
    assert chunks == b"abc|def|gh|"  # EOF (8) arrives together with the last bytes, as Go's body does
    assert code == [8]
    empty = run(abi, "body", method="POST", body=b"")
    assert empty.body[:-4] == b"|" and codes(empty.body[-4:]) == [8]


def test_closed_body_read_fails_and_flush_succeeds(abi: FunctionModule) -> None:
    assert codes(run(abi, "close_body", body=b"data").body) == [0, 6, 0]


def test_get_event_type_writes_1_for_the_http_event(abi: FunctionModule) -> None:
    assert codes(run(abi, "event_type").body) == [1, 0]


def test_method_buffer_must_match_size(abi: FunctionModule) -> None:
    assert codes(run(abi, "method_small").body) == [2, 2, 0]


def test_out_of_bounds_pointers_give_errno(abi: FunctionModule) -> None:
    assert codes(run(abi, "oob", path="/a-long-path").body) == [3, 3, 12, 3, 3, 1]


def test_redirect_like_go_http_redirect(abi: FunctionModule) -> None:
    resp = run(abi, "redirect", path="/app/page/index")
    assert resp.status == 307
    assert resp.header("Location") == "/app/other?x=1"  # relative target resolved against the request path
    assert resp.header("Content-Type") == "text/html; charset=utf-8"
    assert resp.body == b'<a href="/app/other?x=1">Temporary Redirect</a>.\n\n'
    post = run(abi, "redirect", method="POST", path="/app/page/index")
    assert post.status == 307 and post.body == b"" and post.header("Content-Type") is None


def test_redirect_and_retcode_validate_codes(abi: FunctionModule) -> None:
    bad = run(abi, "redirect_bad")
    assert codes(bad.body) == [5] and bad.status == 200 and bad.header("Location") is None
    resp = run(abi, "retcode")
    assert codes(resp.body) == [5, 0, 0]
    assert resp.status == 201  # first valid code wins


def test_unsupported_host_function_traps_with_its_name(abi: FunctionModule) -> None:
    with pytest.raises(WasmTrap) as err:
        run(abi, "unsupported")
    assert "host function taubyte/sdk.getP2PEventFromSize is not supported by dream yet" in str(err.value)
    assert "Traceback" not in str(err.value)
    assert run(abi, "method").body == b"GET"  # the other functions still work


def test_env_log_and_sleep(abi: FunctionModule, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="dream.wasm.guest"):
        assert run(abi, "log_sleep").body == b"ok"
    assert "functions/abi: hello from wasm" in caplog.text
