"""CR, LF and NUL from a function never reach the wire: a deployed function sets headers and redirects
from the query string, and the raw bytes the substrate and the gateway send are read off the socket."""

from __future__ import annotations

import re
import socket

import pytest

from dream.testing.harness import UniverseHandle, wait_for
from dream.testing.project import deploy
from tests.serving.headers_project import FQDN, write_project

pytestmark = pytest.mark.e2e

SHAPE = {
    "Services": {"tns": {}, "hoarder": {}, "seer": {}, "gateway": {}, "substrate": {}},
    "Simples": {},
}
# A well-formed header line: a token, a colon, a value without control characters but HTAB.
FIELD = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+: [^\x00-\x08\x0a-\x1f\x7f]*$")
INJECTED = b"set-cookie"


@pytest.fixture(scope="module")
def universe(module_universe_factory, tmp_path_factory: pytest.TempPathFactory) -> UniverseHandle:  # type: ignore[no-untyped-def]
    universe = module_universe_factory("headers", config=SHAPE)
    deploy(universe, write_project(tmp_path_factory.mktemp("headers-project")))
    return universe


def read_response(sock: socket.socket, buffer: bytes, head_only: bool) -> tuple[list[bytes], bytes, bytes]:
    """(status line and header lines, body, bytes read past it) of one response framed by its length."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed inside a response head: {buffer!r}"
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    lengths = [
        line.split(b":", 1)[1].strip() for line in lines[1:] if line.lower().startswith(b"content-length:")
    ]
    assert len(lengths) == 1, f"one content-length expected in {lines!r}"
    length = 0 if head_only else int(lengths[0])
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed inside a response body"
        rest += chunk
    return lines, rest[:length], rest[length:]


def exchange(port: int, method: str, target: str) -> tuple[list[bytes], bytes]:
    """The attack, then a ping on the same connection: the ping's answer must be the next and last
    bytes, so nothing the function set split the first response into more."""
    host = f"Host: {FQDN}\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"{method} {target} HTTP/1.1\r\n".encode() + host + b"\r\n")
        lines, body, extra = read_response(sock, b"", head_only=method == "HEAD")
        assert extra == b"", f"bytes after the response: {extra!r}"
        sock.sendall(b"GET /ping HTTP/1.1\r\n" + host + b"Connection: close\r\n\r\n")
        ping_lines, ping_body, rest = read_response(sock, b"", head_only=False)
        while chunk := sock.recv(65536):
            rest += chunk
    assert (ping_lines[0], ping_body, rest) == (b"HTTP/1.1 200 OK", b"PONG", b"")
    for line in lines[1:]:
        assert FIELD.match(line), f"malformed header line on the wire: {line!r}"
        assert not line.lower().startswith(INJECTED), f"injected header on the wire: {line!r}"
    return lines, body


def names(lines: list[bytes]) -> list[bytes]:
    return [line.split(b":", 1)[0].lower() for line in lines[1:]]


def ports(universe: UniverseHandle) -> dict[str, int]:
    return {"substrate": universe.port("substrate"), "gateway": universe.port("gateway")}


@pytest.mark.parametrize("via", ["substrate", "gateway"])
def test_a_header_name_with_crlf_is_dropped(universe: UniverseHandle, via: str) -> None:
    lines, body = exchange(ports(universe)[via], "GET", "/add?name=X-A%0D%0ASet-Cookie&value=evil%3D1")
    assert lines[0] == b"HTTP/1.1 200 OK" and body == b"add=5"
    assert b"x-a" not in names(lines)
    assert b"x-after: still here" in [line.lower() for line in lines]


@pytest.mark.parametrize("via", ["substrate", "gateway"])
def test_a_header_value_with_crlf_stays_on_one_line(universe: UniverseHandle, via: str) -> None:
    lines, body = exchange(ports(universe)[via], "GET", "/add?name=X-Note&value=ok%0D%0ASet-Cookie:%20evil=1")
    assert body == b"add=0"
    assert b"x-note: ok  set-cookie: evil=1" in [line.lower() for line in lines]


@pytest.mark.parametrize("via", ["substrate", "gateway"])
@pytest.mark.parametrize("value", ["a%00b", "%00%0D%0ASet-Cookie:%20evil=1", "bell%07"])
def test_a_header_value_with_nul_or_another_control_character_is_dropped(
    universe: UniverseHandle, via: str, value: str
) -> None:
    lines, body = exchange(ports(universe)[via], "GET", f"/add?name=X-Note&value={value}")
    assert body == b"add=5"
    assert b"x-note" not in names(lines)


@pytest.mark.parametrize("via", ["substrate", "gateway"])
def test_a_redirect_target_from_the_query_cannot_add_a_line(universe: UniverseHandle, via: str) -> None:
    lines, _ = exchange(ports(universe)[via], "GET", "/redirect?to=/next%0D%0ASet-Cookie:%20evil=1")
    assert lines[0] == b"HTTP/1.1 302 Found"
    assert b"location: /next  set-cookie: evil=1" in [line.lower() for line in lines]
    refused, body = exchange(ports(universe)[via], "GET", "/redirect?to=/next%00")
    assert refused[0] == b"HTTP/1.1 200 OK" and body == b"redirect=5"
    assert b"location" not in names(refused)


@pytest.mark.parametrize("via", ["substrate", "gateway"])
def test_a_head_answer_with_a_content_length_that_is_not_a_number(universe: UniverseHandle, via: str) -> None:
    # The one header the substrate passes on for HEAD (the length a GET would get): before it was
    # checked, this answer broke the gateway's parser.
    lines, _ = exchange(ports(universe)[via], "HEAD", "/add?name=Content-Length&value=nonsense")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b"content-length: 5" in [line.lower() for line in lines]  # the GET body `add=5`


def test_the_substrate_log_names_the_function(universe: UniverseHandle) -> None:
    offset = universe.client.logs(universe.name, "substrate")["offset"]
    exchange(ports(universe)["substrate"], "GET", "/add?name=X-Logged%0A&value=v")
    wait_for(
        lambda: (
            "functions/add: response header name 'X-Logged\\n' is not a token"
            in universe.client.logs(universe.name, "substrate", offset)["text"]
        ),
        "the dropped header in the substrate's log",
    )


def test_the_log_names_the_function_called_when_functions_share_a_build(universe: UniverseHandle) -> None:
    """`add` and `redirect` are one build (one module, named after whichever loaded first): each call's
    log line names the function that was called."""
    for target, line in (
        ("/add?name=X-Shared%0A&value=v", "functions/add: response header name 'X-Shared\\n' is not a token"),
        ("/redirect?to=/x%00y", "functions/redirect: redirect target '/x\\x00y' has a control character"),
    ):
        offset = universe.client.logs(universe.name, "substrate")["offset"]
        exchange(ports(universe)["substrate"], "GET", target)
        wait_for(
            lambda: line in universe.client.logs(universe.name, "substrate", offset)["text"],  # noqa: B023
            f"the substrate's log to say {line!r}",
        )
