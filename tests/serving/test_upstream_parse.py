"""The usual upstream response parsed in C (`dream.http.headparse.parse_response`): the gateway's pool gets
the same (status, headers, body), or the same error, as with httptools' callbacks, for the responses it
takes and for every response it leaves to httptools.

Each response is served by a raw server, to a pool with the C parser and to one without it; the C pool
counts what its parser took, so each case also says which path answered it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dream.http import headparse
from dream.http.upstream import UpstreamError, UpstreamPool
from tests.serving import test_gateway_proxy
from tests.serving.test_gateway_proxy import HOST, RawServer, answering

run = test_gateway_proxy.run  # the fixture: each scenario on uvloop and on asyncio

if headparse.response_parser() is None:
    pytest.skip(f"the C parser is not in use: {headparse.load()[1]}", allow_module_level=True)

TAKEN = {
    "PONG": b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nPONG",
    "headers in any case": b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-Thing: a\r\nx-thing: b\r\n\r\nhello",
    "an empty body": b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
    "no reason": b"HTTP/1.1 404 \r\ncontent-length: 2\r\n\r\nno",
    "a 5xx": b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 4\r\n\r\nbusy",
    "a blank line in the body": b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\na\r\n\r\nb",
}

LEFT = {
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "connection close": b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
    "no length": b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the close",
    "two lengths": b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\nok",
    "a bad length": b"HTTP/1.1 200 OK\r\ncontent-length: 2x\r\n\r\nok",
    "a 204": b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n",
    "a 100 first": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
    "HTTP/1.0": b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok",
    "a body shorter than its length": b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nshort",
    "bytes after the body": b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n",
    "a tab in a value": b"HTTP/1.1 200 OK\r\nx-a: a\tb\r\ncontent-length: 2\r\n\r\nok",
    "obs-fold": b"HTTP/1.1 200 OK\r\nx-a: a\r\n b\r\ncontent-length: 2\r\n\r\nok",
    "bare LF": b"HTTP/1.1 200 OK\ncontent-length: 2\n\nok",
    "a status of two digits": b"HTTP/1.1 20 OK\r\ncontent-length: 2\r\n\r\nok",
    "garbage": b"NOT HTTP AT ALL\r\n\r\n",
}


async def outcome(pool: UpstreamPool, response: bytes) -> Any:
    async with RawServer(answering(response)) as server:
        try:
            return await pool.request(HOST, server.port, "GET", b"/", [(b"host", b"h")])
        except UpstreamError as exc:
            return type(exc).__name__, str(exc).split(":")[0]


def both(runner: Callable[..., None], response: bytes) -> tuple[Any, Any, bool]:
    """(the C pool's outcome, the httptools pool's, whether the C parser took the response)."""
    out: list[Any] = []
    taken: list[bool] = []

    async def scenario() -> None:
        async with UpstreamPool(read_timeout=2.0) as pool:
            parse = pool.parse_response
            assert parse is not None

            def counted(data: bytes) -> Any:
                parsed = parse(data)
                taken.append(parsed is not None)
                return parsed

            pool.parse_response = counted
            out.append(await outcome(pool, response))
        async with UpstreamPool(read_timeout=2.0) as pool:
            pool.parse_response = None
            out.append(await outcome(pool, response))

    runner(scenario)
    return out[0], out[1], any(taken)


@pytest.mark.parametrize("name", TAKEN)
def test_the_usual_responses_are_parsed_in_c_as_httptools_parses_them(run, name: str) -> None:  # type: ignore[no-untyped-def]
    c, python, taken = both(run, TAKEN[name])
    assert taken, "the C parser left this response to httptools"
    assert c == python
    assert isinstance(c, tuple) and isinstance(c[0], int), c


@pytest.mark.parametrize("name", LEFT)
def test_any_other_response_is_left_to_httptools_and_read_alike(run, name: str) -> None:  # type: ignore[no-untyped-def]
    c, python, taken = both(run, LEFT[name])
    assert not taken, "the C parser took this response"
    assert c == python
