"""The usual request head parsed in C (`dream.http.headparse`): the same requests and answers as httptools'
path, for heads it takes and for every head it leaves to that path (malformed ones, ones over a limit,
ones whose fields frame or change the message).

Two servers alike but for the parser, over real sockets: each head goes to both on a connection of its
own, and the answers (the fast handler echoes the whole `Request`, or the server's own refusal) must be
the same, byte for byte. The C server counts the heads its parser took, so each case also says which
path answered it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from dream.http import headparse
from dream.http.message import Answer, Request
from tests.http.test_server import Raw, Served, stopped_after

if headparse.load()[0] is None:
    pytest.skip(f"the head parser extension is not in use: {headparse.load()[1]}", allow_module_level=True)

LIMITS = {"max_request_line": 64, "max_header_line": 48, "max_headers": 6}


def echo(request: Request) -> Answer:
    fields = {
        "method": request.method,
        "path": request.path,
        "raw_path": request.raw_path.decode("latin-1"),
        "query": request.query.decode("latin-1"),
        "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in request.headers],
        "body": request.body.decode("latin-1"),
        "http_version": request.http_version,
        "keep_alive": request.keep_alive,
    }
    return 200, [(b"content-type", b"application/json")], json.dumps(fields).encode()


class Pair:
    """The C-parsing server and the httptools-only one, on the same kind of loop."""

    def __init__(self, loop: str) -> None:
        self.c = Served(loop, **LIMITS)
        self.python = Served(loop, **LIMITS)
        self.python.server.parse_head = None  # before any connection: each copies it when made
        self.taken = 0
        parse = self.c.server.parse_head
        assert parse is not None

        def counted(*args: Any) -> Any:
            request = parse(*args)
            self.taken += request is not None
            return request

        self.c.server.parse_head = counted
        self.c.fast = self.python.fast = echo

    def answers(self, head: bytes) -> tuple[bytes, bytes, bool]:
        """(the C server's answer, the Python server's, whether the C parser took the head)."""
        taken = self.taken
        out = []
        for served in (self.c, self.python):
            with Raw(served.port) as raw:
                raw.send(head)
                raw.sock.shutdown(1)  # nothing more comes: a server waiting for more ends at once
                raw.sock.settimeout(5)
                out.append(raw.file.read())
        return out[0], out[1], self.taken > taken

    def stop(self) -> None:
        self.c.stop()
        self.python.stop()


@pytest.fixture(scope="module", params=["uvloop", "asyncio"])
def pair(request: pytest.FixtureRequest) -> Iterator[Pair]:
    yield from stopped_after(Pair(request.param))


def head(*lines: str, request_line: str = "GET /ping HTTP/1.1") -> bytes:
    return ("\r\n".join([request_line, *lines]) + "\r\n\r\n").encode("latin-1")


def line(request_line: str) -> bytes:
    """A head with this request line and one Host field."""
    return head("Host: a", request_line=request_line)


TAKEN = {
    "plain": head("Host: hello.computers.com"),
    "wrk's": head("Host: a:8080", "User-Agent: wrk", "Accept: */*"),
    "no header": head(),
    "query": line("GET /a/b?x=1&y=2 HTTP/1.1"),
    "empty query": line("GET /? HTTP/1.1"),
    "two question marks": line("GET /a?b?c HTTP/1.1"),
    "sub-delims in the path": line("GET /a:b@c!$&'()*+,=~-._ HTTP/1.1"),
    "names in any case": head("HOST: a", "X-Mixed-Case: Value", "x-lower: v"),
    "spaces before a value": head("Host:    a", "X-A:b"),
    "empty value": head("Host: a", "X-Empty:"),
    "HEAD": line("HEAD /h HTTP/1.1"),
    "POST without a body": line("POST /p HTTP/1.1"),
    "PUT": line("PUT /p HTTP/1.1"),
    "PATCH": line("PATCH /p HTTP/1.1"),
    "DELETE": line("DELETE /p HTTP/1.1"),
    "OPTIONS": line("OPTIONS /p HTTP/1.1"),
    "max_headers fields": head(*[f"X-{i}: v" for i in range(6)]),
    "a field at max_header_line": head("Host: a", "X-Long: " + "v" * (48 - len("x-long"))),
    "a request line at max_request_line": head(request_line="GET /" + "a" * (64 - 4) + " HTTP/1.1"),
}

LEFT = {
    "percent-encoded path": line("GET /a%20b HTTP/1.1"),
    "fragment": line("GET /a#frag HTTP/1.1"),
    "HTTP/1.0": line("GET / HTTP/1.0"),
    "HTTP/1.0 keep-alive": head("Host: a", "Connection: keep-alive", request_line="GET / HTTP/1.0"),
    "Connection: close": head("Host: a", "Connection: close"),
    "Content-Length: 0": head("Host: a", "Content-Length: 0", request_line="POST /p HTTP/1.1"),
    "chunked without its body": head(
        "Host: a", "Transfer-Encoding: chunked", request_line="POST /p HTTP/1.1"
    ),
    "Expect": head("Host: a", "Expect: 100-continue"),
    "websocket upgrade": head("Host: a", "Upgrade: websocket", "Connection: Upgrade"),
    "h2c upgrade": head("Host: a", "Upgrade: h2c"),
    "two Host fields": head("Host: a", "Host: b"),
    "a tab in a value": head("Host: a", "X-Tab: a\tb"),
    "a space after a value": head("Host: a ", "X-A: b"),
    "obs-fold": head("Host: a", "X-Fold: a", " b"),
    "a space before the colon": head("Host : a"),
    "no colon": head("Host: a", "X-No-Colon"),
    "obs-text in a value": head("Host: a", "X-Latin: caf\xe9"),
    "a NUL in a value": head("Host: a", "X-Nul: a\x00b"),
    "a DEL in a value": head("Host: a", "X-Del: a\x7fb"),
    "a bad name": head("Host: a", "X(bad): v"),
    "lower-case method": line("get / HTTP/1.1"),
    "CONNECT": line("CONNECT a:443 HTTP/1.1"),
    "TRACE": line("TRACE / HTTP/1.1"),
    "unknown method": line("BREW /pot HTTP/1.1"),
    "network-path target": line("GET //evil/x HTTP/1.1"),
    "absolute-form target": line("GET http://a/b HTTP/1.1"),
    "asterisk target": line("OPTIONS * HTTP/1.1"),
    "a quote in the target": line('GET /a"b HTTP/1.1'),
    "a bracket in the target": line("GET /a[1] HTTP/1.1"),
    "two spaces in the request line": line("GET  / HTTP/1.1"),
    "HTTP/2.0": line("GET / HTTP/2.0"),
    "no version": line("GET /"),
    "bare LF line ends": b"GET / HTTP/1.1\nHost: a\n\n",
    "a bare CR inside the head": b"GET / HTTP/1.1\r\nHost: a\r\n\rX: b\r\n\r\n",
    "one field over max_headers": head(*[f"X-{i}: v" for i in range(7)]),
    "a field over max_header_line": head("Host: a", "X-Long: " + "v" * (49 - len("x-long"))),
    "a request line over max_request_line": head(request_line="GET /" + "a" * (65 - 4) + " HTTP/1.1"),
    "a name of 256 bytes": head("X-" + "n" * 254 + ": v"),
}


@pytest.mark.parametrize("name", TAKEN)
def test_the_usual_heads_are_parsed_in_c_as_httptools_parses_them(pair: Pair, name: str) -> None:
    c, python, taken = pair.answers(TAKEN[name])
    assert taken, "the C parser left this head to httptools"
    assert c == python
    assert c.startswith(b"HTTP/1.1 200 OK\r\n"), c


@pytest.mark.parametrize("name", LEFT)
def test_any_other_head_is_left_to_httptools_and_answered_alike(pair: Pair, name: str) -> None:
    c, python, taken = pair.answers(LEFT[name])
    assert not taken, "the C parser took this head"
    assert c == python


def test_pipelined_and_split_heads_keep_their_order(pair: Pair) -> None:
    # The C parser sees only reads holding one whole head; the others are httptools', on the same
    # connection and in order.
    for served in (pair.c, pair.python):
        with Raw(served.port) as raw:
            raw.send(line("GET /one HTTP/1.1"))
            assert json.loads(raw.read().body)["path"] == "/one"
            raw.send(line("GET /two HTTP/1.1") + head(request_line="GET /three HTTP/1.1"))
            assert json.loads(raw.read().body)["path"] == "/two"
            assert json.loads(raw.read().body)["path"] == "/three"
            whole = line("GET /four HTTP/1.1")
            raw.send(whole[:10])
            raw.send(whole[10:])
            assert json.loads(raw.read().body)["path"] == "/four"
            raw.send(line("GET /five HTTP/1.1"))
            assert json.loads(raw.read().body)["path"] == "/five"


def test_the_switch_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(headparse.ENV, "python")
    assert headparse._load() == (None, "DREAM_HTTP_PARSER=python")


def test_without_the_extension_every_head_goes_to_httptools_and_it_says_why(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(headparse.ENV, raising=False)
    monkeypatch.setitem(sys.modules, "dream.http._headparse", None)  # as when it was never built
    monkeypatch.setattr(headparse, "_loaded", None)
    with caplog.at_level(logging.WARNING, logger="dream.http"):
        assert headparse.parser() is None and headparse.response_parser() is None
    assert (
        "HTTP heads are parsed by httptools alone (slower): the head parser extension is not built"
        in caplog.text
    )
    assert "build it with scripts/setup-venv" in caplog.text
