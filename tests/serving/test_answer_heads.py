"""The HTTP server keeps the head (status line and header fields) of a fast-path answer once it has
checked it, and writes the same bytes from then on: answers, HEAD answers, HTTP/1.0 and closing answers
stay as they were, and heads with framing fields, unsafe fields or list pairs are never kept."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dream.http import server as httpserver
from dream.http.message import Request
from tests.http.test_server import Raw, Served


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    served = Served("uvloop")
    try:
        yield served
    finally:
        served.stop()


def test_a_kept_head_answers_as_the_first_did(served: Served) -> None:
    headers = [(b"X-Kept-Head", b"yes"), (b"content-type", b"text/plain")]
    served.fast = lambda request: (201, headers, b"body of " + request.path.encode())
    with Raw(served.port) as raw:
        for path in ("/one", "/two"):
            raw.send(f"GET {path} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
            reply = raw.read()
            assert (reply.status, reply.body) == (201, f"body of {path}".encode())
            assert reply.header("x-kept-head") == "yes" and reply.header("content-length") == str(
                len(reply.body)
            )
        raw.send(b"HEAD /three HTTP/1.1\r\nHost: h\r\n\r\n")
        head = raw.read("HEAD")
        assert head.header("content-length") == str(len(b"body of /three")) and head.body == b""
    assert (201, *headers) in httpserver._HEADS
    with Raw(served.port) as raw:  # HTTP/1.0: the kept head, and its own connection field
        raw.send(b"GET /four HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n")
        assert raw.read().header("connection") == "keep-alive"
        raw.send(b"GET /five HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        assert raw.read().header("connection") == "close"
        raw.expect_eof()


def test_framing_unsafe_and_list_headers_are_not_kept(served: Served) -> None:
    answers = {
        "/framing": [(b"Connection", b"close")],
        "/unsafe": [(b"X-Bad", b"a\r\nInjected: yes"), (b"X-Good", b"1")],
        "/list": [[b"X-List", b"1"]],
    }

    def fast(request: Request) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        return 200, answers[request.path], b"ok"  # type: ignore[return-value]

    served.fast = fast
    for path in answers:
        with Raw(served.port) as raw:
            raw.send(f"GET {path} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
            reply = raw.read()
            assert (reply.status, reply.body) == (200, b"ok")
            assert reply.header("injected") is None
    assert (200, (b"Connection", b"close")) not in httpserver._HEADS
    assert (200, (b"X-Bad", b"a\r\nInjected: yes"), (b"X-Good", b"1")) not in httpserver._HEADS
    assert (200, (b"X-Good", b"1")) in httpserver._HEADS  # the safe fields, checked, are kept


def test_heads_past_the_limit_are_answered_and_not_kept(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(httpserver, "HEADS_KEPT", len(httpserver._HEADS) + 1)
    served.fast = lambda request: (200, [(b"X-Path", request.path.encode())], b"ok")
    with Raw(served.port) as raw:
        for path in ("/at-the-limit", "/past-the-limit"):
            raw.send(f"GET {path} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
            reply = raw.read()
            assert (reply.status, reply.header("x-path"), reply.body) == (200, path, b"ok")
    assert (200, (b"X-Path", b"/at-the-limit")) in httpserver._HEADS
    assert (200, (b"X-Path", b"/past-the-limit")) not in httpserver._HEADS
    assert len(httpserver._HEADS) == httpserver.HEADS_KEPT
