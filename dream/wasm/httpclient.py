"""Host functions of the `taubyte/sdk` HTTP client family (go-sdk `http/client`).

    newHttpClient(clientIdPtr)                                   → errno
    newHttpRequest(client, requestIdPtr)                         → errno  10 unknown client
    setHttpRequestURL(client, request, urlPtr, urlLen)           → errno  11 when the URL cannot be parsed
    setHttpRequestMethod(client, request, method)                → errno  14 outside the method enum
    getHttpRequestMethod(client, request, methodPtr)             → errno
    setHttpRequestBody(client, request, bufPtr, len)             → errno
    setHttpRequestHeader(client, request, key, valuesPtr, len)   → errno  values: each + 0x00
    addHttpRequestHeader(client, request, key, value)            → errno
    deleteHttpRequestHeader(client, request, key)                → errno
    getHttpRequestHeaderSize / getHttpRequestHeader(client, request, key, ptr)
    getHttpRequestHeaderKeysSize(client, request, sizePtr) / getHttpRequestHeaderKeys(client, request, buf, len)
    doHttpRequest(client, request)                               → errno  13 when the target refuses,
                                                                          cannot be reached or times out
    readHttpResponseBody(client, request, buf, len, countPtr)    → errno  8 (EOF) with the last bytes
    closeHttpResponseBody(client, request)                       → errno
    getHttpResponseHeaderSize / getHttpResponseHeader / getHttpResponseHeaderKeysSize / getHttpResponseHeaderKeys

Methods are go-sdk's enum (1 GET, 2 POST, 3 PUT, 4 DELETE, 5 HEAD, 6 OPTIONS, 7 PATCH, 8 TRACE,
9 CONNECT). Header names are canonicalised as Go's `http.Header` does; lists cross the ABI as each
item followed by 0x00. An unknown request id is 3, a response asked for before `doHttpRequest` 4.

The call runs on the function's worker thread, bounded by the function's own deadline: connecting,
sending and every read of the body stop when its `execution.timeout` is spent. Redirects are followed
(up to `MAX_REDIRECTS`, as Go's client). A name the universe serves (a generated domain or a domain of
a project) goes straight to this substrate's HTTP port, with its Host header kept: no DNS set-up.
Connections are closed when the call ends.
"""

from __future__ import annotations

import http.client
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

import wasmtime

from dream.wasm import abi, errno, hostcall
from dream.wasm.event import HttpEvent, canonical_header_key
from dream.wasm.family import Find, data_call, new_handle, read_text, size_call
from dream.wasm.guest_memory import Guest, guest
from dream.wasm.scope import current_scope

# go-sdk errno/types.go declaration order
CLIENT_NOT_FOUND = 10
PARSE_URL_FAILED = 11
HTTP_REQUEST_FAILED = 13
INVALID_METHOD = 14
HEADER_NOT_FOUND = 16

METHODS = ("", "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT")
MAX_REDIRECTS = 10  # as Go's http.Client
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

log = logging.getLogger("dream.wasm.http")


class _Request:
    __slots__ = ("body", "connection", "headers", "method", "response", "response_headers", "url")

    def __init__(self) -> None:
        self.url = ""
        self.method = "GET"
        self.body = b""
        self.headers: dict[str, list[str]] = {}
        self.connection: http.client.HTTPConnection | None = None
        self.response: http.client.HTTPResponse | None = None
        self.response_headers: dict[str, list[str]] = {}


class _Client:
    __slots__ = ("requests",)

    def __init__(self) -> None:
        self.requests: dict[int, _Request] = {}


def _client(e: HttpEvent, client_id: int) -> _Client | None:
    found = e.handles.get(client_id) if e.handles else None
    return found if isinstance(found, _Client) else None


def _lookup(client_id: int, request_id: int) -> tuple[HttpEvent | None, _Request | None, int]:
    e = abi.current()
    if e is None:
        return None, None, errno.EVENT_NOT_FOUND
    client = _client(e, client_id)
    if client is None:
        return e, None, CLIENT_NOT_FOUND
    request = client.requests.get(request_id)
    if request is None:
        return e, None, errno.ADDRESS_OUT_OF_MEMORY  # upstream's answer for an unknown request id
    return e, request, errno.NONE


def _nul_list(items: list[str]) -> bytes:
    return b"".join(s.encode() + b"\0" for s in items)


def _split_list(raw: bytes) -> list[str]:
    text = raw.decode(errors="replace")
    items = text.split("\0")
    if text.endswith("\0"):
        items.pop()
    return items


def new_client(caller: Any, id_ptr: int) -> int:
    e = abi.current()
    if e is None:
        return errno.EVENT_NOT_FOUND
    ok = guest(caller, e).put_u32(id_ptr, new_handle(e, _Client()))
    return errno.NONE if ok else errno.MEMORY_WRITE_FAILED


def new_request(caller: Any, client_id: int, id_ptr: int) -> int:
    e = abi.current()
    if e is None:
        return errno.EVENT_NOT_FOUND
    client = _client(e, client_id)
    if client is None:
        return CLIENT_NOT_FOUND
    request_id = max(client.requests, default=0) + 1
    client.requests[request_id] = _Request()
    return errno.NONE if guest(caller, e).put_u32(id_ptr, request_id) else errno.MEMORY_WRITE_FAILED


def set_url(caller: Any, client_id: int, request_id: int, ptr: int, n: int) -> int:
    e, request, code = _lookup(client_id, request_id)
    if e is None or request is None:
        return code
    raw = guest(caller, e).read(ptr, n)
    if raw is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    url = raw.decode(errors="replace")
    try:
        urlsplit(url).port  # noqa: B018  # a bad port or IPv6 literal raises here
    except ValueError:
        return PARSE_URL_FAILED
    request.url = url
    return errno.NONE


def set_method(caller: Any, client_id: int, request_id: int, method: int) -> int:
    _, request, code = _lookup(client_id, request_id)
    if request is None:
        return code
    if not 0 < method < len(METHODS):
        return INVALID_METHOD
    request.method = METHODS[method]
    return errno.NONE


def get_method(caller: Any, client_id: int, request_id: int, ptr: int) -> int:
    e, request, code = _lookup(client_id, request_id)
    if e is None or request is None:
        return code
    ok = guest(caller, e).put_u32(ptr, METHODS.index(request.method))
    return errno.NONE if ok else errno.MEMORY_WRITE_FAILED


def set_body(caller: Any, client_id: int, request_id: int, ptr: int, n: int) -> int:
    e, request, code = _lookup(client_id, request_id)
    if e is None or request is None:
        return code
    body = guest(caller, e).read(ptr, n) if n else b""
    if body is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    request.body = body
    return errno.NONE


def _key_and_values(
    caller: Any, client_id: int, request_id: int, key_ptr: int, key_len: int, val_ptr: int, val_len: int
) -> tuple[_Request | None, str, list[str], int]:
    e, request, code = _lookup(client_id, request_id)
    if e is None or request is None:
        return None, "", [], code
    g = guest(caller, e)
    key, values = g.read(key_ptr, key_len), g.read(val_ptr, val_len)
    if key is None or values is None:
        return None, "", [], errno.ADDRESS_OUT_OF_MEMORY
    return request, canonical_header_key(key.decode(errors="replace")), _split_list(values), errno.NONE


def set_header(caller: Any, c: int, r: int, key_ptr: int, key_len: int, val_ptr: int, val_len: int) -> int:
    request, key, values, code = _key_and_values(caller, c, r, key_ptr, key_len, val_ptr, val_len)
    if request is None:
        return code
    if values:
        request.headers[key] = values
    return errno.NONE


def add_header(caller: Any, c: int, r: int, key_ptr: int, key_len: int, val_ptr: int, val_len: int) -> int:
    request, key, values, code = _key_and_values(caller, c, r, key_ptr, key_len, val_ptr, val_len)
    if request is None:
        return code
    request.headers.setdefault(key, []).extend(values or [""])
    return errno.NONE


def delete_header(caller: Any, c: int, r: int, key_ptr: int, key_len: int) -> int:
    e, request, code = _lookup(c, r)
    if e is None or request is None:
        return code
    key = guest(caller, e).read(key_ptr, key_len)
    if key is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    request.headers.pop(canonical_header_key(key.decode(errors="replace")), None)
    return errno.NONE


def _request_headers(request: _Request) -> dict[str, list[str]]:
    return request.headers


def _response_headers(request: _Request) -> dict[str, list[str]] | None:
    return request.response_headers if request.response is not None else None


def _header_values(which: Callable[[_Request], dict[str, list[str]] | None]) -> Find:
    """The values of one header (NUL-separated) of a request, or of its response."""

    def find(caller: Any, e: HttpEvent, c: int, r: int, key_ptr: int, key_len: int) -> tuple[bytes, int]:
        _, request, code = _lookup(c, r)
        if request is None:
            return b"", code
        key = read_text(caller, e, key_ptr, key_len)
        if key is None:
            return b"", errno.ADDRESS_OUT_OF_MEMORY
        headers = which(request)
        if headers is None:
            return b"", errno.NIL_ADDRESS
        return _nul_list(headers.get(canonical_header_key(key), [])), errno.NONE

    return find


def _header_keys(which: Callable[[_Request], dict[str, list[str]] | None]) -> Find:
    """The header names (NUL-separated) of a request, or of its response."""

    def find(caller: Any, e: HttpEvent, c: int, r: int) -> tuple[bytes, int]:
        _, request, code = _lookup(c, r)
        if request is None:
            return b"", code
        headers = which(request)
        return (b"", errno.NIL_ADDRESS) if headers is None else (_nul_list(list(headers)), errno.NONE)

    return find


def _keys_data(which: Callable[[_Request], dict[str, list[str]] | None]) -> Callable[..., int]:
    def data(caller: Any, c: int, r: int, buf: int, buf_len: int) -> int:
        e, request, code = _lookup(c, r)
        if e is None or request is None:
            return code
        headers = which(request)
        if headers is None:
            return errno.NIL_ADDRESS
        raw = _nul_list(list(headers))
        if (buf_len & 0xFFFFFFFF) < len(raw):
            return errno.BUFFER_TOO_SMALL
        return errno.NONE if guest(caller, e).write(buf, raw) else errno.ADDRESS_OUT_OF_MEMORY

    return data


# -- doing the request ------------------------------------------------------------------------------


def do_request(caller: Any, client_id: int, request_id: int) -> int:
    e, request, code = _lookup(client_id, request_id)
    if e is None or request is None:
        return code
    _close(request)
    try:
        _send(e, request)
    except _Failed as exc:
        _close(request)
        log.warning("%s: HTTP client %s %s failed: %s", e.label, request.method, request.url, exc)
        return HTTP_REQUEST_FAILED
    return errno.NONE


class _Failed(Exception):
    pass


def _send(e: HttpEvent, request: _Request) -> None:
    services = current_scope().services
    url, method, body = request.url, request.method, request.body
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _Failed(f"unsupported URL {url!r}: give an absolute http:// or https:// URL")
        remaining = e.remaining()
        if remaining <= 0:
            raise _Failed("the function's timeout was spent before the request could start")
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        local = services.local_address(host, remaining) if services is not None else None
        connection: http.client.HTTPConnection
        if local is not None:
            connection = http.client.HTTPConnection(local[0], local[1], timeout=e.remaining() or 0.001)
        elif parts.scheme == "https":
            connection = http.client.HTTPSConnection(
                host, port, timeout=remaining, context=ssl.create_default_context()
            )
        else:
            connection = http.client.HTTPConnection(host, port, timeout=remaining)
        request.connection = connection
        if e.closers is None:
            e.closers = []
        e.closers.append(connection)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = [(k, v) for k, values in request.headers.items() for v in values]
        names = {k.lower() for k, _ in headers}
        started = time.monotonic()
        try:
            connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            if "host" not in names:
                connection.putheader("Host", parts.netloc.rsplit("@", 1)[-1])
            if "user-agent" not in names:
                connection.putheader("User-Agent", "Go-http-client/1.1")
            for key, value in headers:
                connection.putheader(key, value)
            if body or method in ("POST", "PUT", "PATCH"):
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body or None)
            response = connection.getresponse()
        except TimeoutError:
            took = time.monotonic() - started
            raise _Failed(
                f"no answer within the function's remaining {took:.2f}s (execution.timeout)"
            ) from None
        except ConnectionRefusedError:
            raise _Failed(f"connection refused by {host}:{port} (nothing listens there)") from None
        except (OSError, http.client.HTTPException) as exc:
            raise _Failed(f"{type(exc).__name__}: {exc}") from None
        if response.status in _REDIRECTS and response.getheader("Location"):
            url = urljoin(url, response.getheader("Location") or "")
            if response.status in (301, 302, 303) and method not in ("GET", "HEAD"):
                method, body = "GET", b""
            response.close()
            connection.close()
            continue
        request.response = response
        found: dict[str, list[str]] = {}
        for key, value in response.getheaders():
            found.setdefault(canonical_header_key(key), []).append(value)
        request.response_headers = found
        return
    raise _Failed(f"stopped after {MAX_REDIRECTS} redirects")


def _close(request: _Request) -> None:
    if request.response is not None:
        request.response.close()
    if request.connection is not None:
        request.connection.close()
    request.response = None
    request.connection = None
    request.response_headers = {}


def read_body(caller: Any, client_id: int, request_id: int, buf: int, n: int, count_ptr: int) -> int:
    e, request, code = _lookup(client_id, request_id)
    if e is None or request is None:
        return code
    response = request.response
    if response is None:
        return errno.NIL_ADDRESS
    g: Guest = guest(caller, e)
    n &= 0xFFFFFFFF
    if not g.fits(buf, n):
        return errno.ADDRESS_OUT_OF_MEMORY
    chunk = b""
    if not response.isclosed():
        remaining = e.remaining()
        sock = request.connection.sock if request.connection is not None else None
        if remaining <= 0:
            log.warning(
                "%s: reading the response of %s stopped: the function's timeout is spent",
                e.label,
                request.url,
            )
            return errno.HTTP_READ_BODY
        if sock is not None:
            sock.settimeout(remaining)
        try:
            chunk = response.read1(n) if n else b""
        except (OSError, http.client.HTTPException) as exc:
            log.warning("%s: reading the response of %s failed: %s", e.label, request.url, exc)
            return errno.HTTP_READ_BODY
    if not (g.write(buf, chunk) and g.put_u32(count_ptr, len(chunk))):
        return errno.MEMORY_WRITE_FAILED
    return errno.EOF if response.isclosed() or (n and not chunk) else errno.NONE


def close_body(caller: Any, client_id: int, request_id: int) -> int:
    _, request, code = _lookup(client_id, request_id)
    if request is None:
        return code
    if request.response is None:
        return errno.NIL_ADDRESS
    request.response.close()
    return errno.NONE


def close_all(e: HttpEvent) -> None:
    """Close what the call left open (called by the host after each call)."""
    for closer in e.closers or ():
        if isinstance(closer, http.client.HTTPConnection):
            closer.close()


_I = "i32"
_TABLE: list[tuple[str, int, Callable[..., int]]] = [
    ("newHttpClient", 1, new_client),
    ("newHttpRequest", 2, new_request),
    ("setHttpRequestURL", 4, set_url),
    ("setHttpRequestMethod", 3, set_method),
    ("getHttpRequestMethod", 3, get_method),
    ("setHttpRequestBody", 4, set_body),
    ("setHttpRequestHeader", 6, set_header),
    ("addHttpRequestHeader", 6, add_header),
    ("deleteHttpRequestHeader", 4, delete_header),
    ("getHttpRequestHeaderSize", 5, size_call(_header_values(_request_headers))),
    ("getHttpRequestHeader", 5, data_call(_header_values(_request_headers))),
    ("getHttpRequestHeaderKeysSize", 3, size_call(_header_keys(_request_headers))),
    ("getHttpRequestHeaderKeys", 4, _keys_data(_request_headers)),
    ("doHttpRequest", 2, do_request),
    ("readHttpResponseBody", 5, read_body),
    ("closeHttpResponseBody", 2, close_body),
    ("getHttpResponseHeaderSize", 5, size_call(_header_values(_response_headers))),
    ("getHttpResponseHeader", 5, data_call(_header_values(_response_headers))),
    ("getHttpResponseHeaderKeysSize", 3, size_call(_header_keys(_response_headers))),
    ("getHttpResponseHeaderKeys", 4, _keys_data(_response_headers)),
]

IMPLEMENTED: frozenset[tuple[str, str]] = frozenset((abi.SDK, name) for name, *_ in _TABLE)
# Host functions that wait on the network: a module importing them never runs inline.
BLOCKING: frozenset[tuple[str, str]] = frozenset(
    {(abi.SDK, "doHttpRequest"), (abi.SDK, "readHttpResponseBody")}
)


def define(linker: wasmtime.Linker, define: Callable[..., None] = hostcall.define) -> None:
    for name, params, fn in _TABLE:
        define(linker, abi.SDK, name, (_I,) * params, True, fn, takes_caller=True)
