"""Per-call HTTP event state: the request as the guest reads it and the buffered response it builds.

Request values mirror what a Go `net/http` server hands tau's host functions: header names are
canonicalised (`content-type` -> `Content-Type`), `Host` is not among the headers (it is
`getHttpEventHost`), query lookups are exact-case. The response is buffered until the export returns:
the status is the first valid RetCode/redirect code (else 200), so "write body, then Return(200)" works.

Response headers are checked when the guest sets them, with the rules Go's net/http applies when it
writes them (see `check_header`): no byte a function hands over can end a header line or the head.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from dream.wasm import errno
from dream.wasm.types import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from dream.wasm.guest_memory import Guest, MemoryHandle

HTTP_EVENT_TYPE = 1  # go-sdk common/vars.go: 0 undefined, 1 HTTP, 2 pubsub, 3 P2P
PUBSUB_EVENT_TYPE = 2
P2P_EVENT_TYPE = 3
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
# Control characters other than HTAB, CR and LF: invalid in a field value (RFC 9110 5.5, Go's
# httpguts.ValidHeaderFieldValue). CR and LF are handled apart, the way Go's writer does.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NEWLINES = str.maketrans("\r\n", "  ")
# How much of a refused name or value a log line quotes.
_QUOTED = 80

log = logging.getLogger("dream.wasm.headers")


@functools.lru_cache(maxsize=2048)
def canonical_header_key(key: str) -> str:
    """Go's CanonicalMIMEHeaderKey: `x-my-header` -> `X-My-Header`; keys with non-token bytes are kept as-is."""
    if not key or any(c not in _TOKEN_CHARS for c in key):
        return key
    return "-".join(part[:1].upper() + part[1:].lower() for part in key.split("-"))


@functools.lru_cache(maxsize=2048)
def response_header_name(key: str) -> str | None:
    """The canonical form of a response header name, or None when it is not an RFC 9110 token (Go's
    httpguts.ValidHeaderFieldName: Go's writer drops such a field)."""
    if not key or any(c not in _TOKEN_CHARS for c in key):
        return None
    return canonical_header_key(key)


def check_header(key: str, value: str) -> tuple[str, str, str]:
    """(canonical name, value to send, problem) for a response header a function sets.

    - a name that is not a token: dropped (Go's `Header.Write` skips it);
    - CR or LF in the value: each becomes a space, then spaces and tabs at both ends go (Go's
      `headerNewlineToSpace` and `textproto.TrimString`): the header is kept, on one line;
    - another control character in the value (NUL, 0x01-0x08, 0x0B-0x1F, DEL): dropped (Go would send
      it, and a parser then rejects the whole response);
    - a `Content-Length` that is not a decimal number: dropped (Go's server drops it too).

    The name is "" when the header is dropped; the problem is "" when nothing was wrong.
    """
    name = response_header_name(key)
    if name is None:
        why = f"name {_quote(key)} is not a token (RFC 9110: letters, digits and !#$%&'*+-.^_`|~)"
        return "", "", f"response header {why}; the header was dropped"
    if value.isprintable() and name != "Content-Length":
        # The usual case: no control character (isprintable() is False for all of them, and for a few
        # harmless others, which the checks below let through).
        return name, value.strip(" "), ""
    if _CONTROL.search(value):
        why = f"{name} has a control character in its value {_quote(value)}"
        return "", "", f"response header {why}; the header was dropped (percent-encode or strip it)"
    problem = ""
    if "\r" in value or "\n" in value:
        value = value.translate(_NEWLINES)
        problem = f"response header {name} has CR or LF in its value; each was replaced by a space"
    value = value.strip(" \t")
    if name == "Content-Length" and not (value.isascii() and value.isdigit()):
        why = f"Content-Length {_quote(value)} is not a decimal number"
        return "", "", f"response header {why}; the header was dropped"
    return name, value, problem


def _quote(text: str) -> str:
    # repr() escapes CR, LF and NUL: the log line quoting them stays one line.
    return repr(text if len(text) <= _QUOTED else text[:_QUOTED] + "...")


@dataclass(slots=True)
class P2PCommand:
    """A p2p command as its handler function sees it; `response` is what the handler wrote back."""

    protocol: str
    command: str
    data: bytes
    source: bytes  # the CID bytes of the node that sent it
    target: bytes  # the CID bytes of the node that runs the handler
    response: bytes = b""


# What a non-HTTP call is made with: a pub-sub message (channel, data) or a p2p command.
Trigger = tuple[str, bytes] | P2PCommand


def _nul_list(items: list[str]) -> bytes:
    # String lists cross the ABI as each item followed by one 0x00 byte.
    return b"".join(s.encode() + b"\0" for s in items)


class HttpEvent:
    """State of one HTTP event (id 0) for the duration of one `FunctionModule.call`."""

    __slots__ = (
        "_body",
        "_body_closed",
        "_body_pos",
        "_header_keys",
        "_headers",
        "_problems",
        "_query",
        "_query_keys",
        "closers",
        "ctx",
        "data",
        "deadline",
        "guest",
        "handles",
        "host",
        "host_calls",
        "instantiate_ns",
        "kind",
        "label",
        "measure",
        "memory",
        "message",
        "method",
        "needs_worker",
        "pages",
        "path",
        "request",
        "resp_body",
        "resp_headers",
        "scope",
        "status",
        "used_memory",
        "wasm_ns",
    )

    def __init__(
        self,
        request: HttpRequest,
        *,
        deadline: float,
        label: str,
        data: object | None = None,
        scope: object | None = None,
    ) -> None:
        self.request = request
        # What the function's data host calls (databases, ...) reach: its `DataScope` (None: no data).
        self.data = data
        # What its other host calls reach (`dream.wasm.scope.FunctionScope`: self, publishing, ...).
        self.scope = scope
        self.kind = HTTP_EVENT_TYPE  # what getEventType answers
        self.message: Trigger | None = None  # (channel, data) of a pub-sub event, or a p2p command
        self.closers: list[object] | None = None  # what the call opened (HTTP responses): closed after it
        self.handles: dict[int, object] | None = None  # ids handed to the guest (databases, ...)
        self.needs_worker = False  # a data host call had to wait on a server's event loop
        self.deadline = deadline  # time.monotonic() value; bounds env._sleep
        self.label = label  # module name, for guest log lines
        self.memory: MemoryHandle | None = None  # resolved on the first host call
        self.ctx: int | None = None  # the running store's context address, when the host knows it
        self.guest: Guest | None = None  # shared by this call's host functions
        self.method = request.method.encode()
        self.host = request.host.encode()
        self.path = request.path.encode()
        self._headers: dict[str, bytes] | None = None
        self._header_keys: bytes | None = None
        self._query: dict[str, bytes] | None = None
        self._query_keys: bytes | None = None
        self._body = request.body
        self._body_pos = 0
        self._body_closed = False
        self.status: int | None = None
        self.resp_headers: list[tuple[str, str]] = []
        self.resp_body = bytearray()
        self._problems = 0  # response headers this call dropped or rewrote
        # The call's cost, filled by the call path that measures it (rawcall) and by the host calls.
        self.instantiate_ns = 0
        self.wasm_ns = 0
        self.pages = 0
        self.host_calls: dict[str, int] | None = None

        # Asked by `dream run function`: the call path then records the guest's linear memory at the end.
        self.measure = False
        self.used_memory: int | None = None

    # -- request -------------------------------------------------------------------------------------

    def _header_map(self) -> dict[str, bytes]:
        if self._headers is None:
            m: dict[str, bytes] = {}
            raw = self.request.raw_headers
            pairs = (
                self.request.headers
                if raw is None
                else [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]
            )
            for k, v in pairs:
                ck = canonical_header_key(k)
                if ck != "Host":  # Go moves Host out of r.Header
                    m.setdefault(ck, v.encode())
            self._headers = m
        return self._headers

    def header(self, key: str) -> bytes:
        """First value of a request header (canonical, case-insensitive lookup); empty when absent."""
        return self._header_map().get(canonical_header_key(key), b"")

    def header_keys(self) -> bytes:
        if self._header_keys is None:
            self._header_keys = _nul_list(list(self._header_map()))
        return self._header_keys

    def _query_map(self) -> dict[str, bytes]:
        if self._query is None:
            m: dict[str, bytes] = {}
            for k, v in self.request.query:
                m.setdefault(k, v.encode())
            self._query = m
        return self._query

    def query(self, key: str) -> bytes:
        return self._query_map().get(key, b"")

    def query_keys(self) -> bytes:
        if self._query_keys is None:
            self._query_keys = _nul_list(list(self._query_map()))
        return self._query_keys

    def read_body(self, n: int) -> tuple[bytes, int]:
        """One body Read of up to n bytes: (data, errno). EOF (8) comes with the last bytes, as Go's body does."""
        if self._body_closed:
            return b"", errno.HTTP_READ_BODY
        chunk = self._body[self._body_pos : self._body_pos + n]
        self._body_pos += len(chunk)
        return chunk, errno.EOF if self._body_pos >= len(self._body) else errno.NONE

    def close_body(self) -> int:
        self._body_closed = True
        return errno.NONE

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    # -- response ------------------------------------------------------------------------------------

    def ret_code(self, code: int) -> int:
        if not 100 <= code <= 999:
            return errno.HTTP_WRITE
        if self.status is None:
            self.status = code
        return errno.NONE

    def add_header(self, key: str, value: str) -> int:
        """`eventHttpHeaderAdd`: 0 when added (possibly rewritten onto one line), 5 when dropped."""
        name, value, problem = check_header(key, value)
        if problem:
            self._report(problem)
        if not name:
            return errno.HTTP_WRITE
        self.resp_headers.append((name, value))
        return errno.NONE

    def _report(self, problem: str) -> None:
        # One line per call: a function that sets bad headers in a loop must not flood the node's log.
        self._problems += 1
        if self._problems == 1:
            log.warning("%s: %s", self.label, problem)

    def _set_header(self, key: str, value: str) -> None:
        self.resp_headers = [(k, v) for k, v in self.resp_headers if k != key]
        self.resp_headers.append((key, value))

    def write(self, data: bytes) -> None:
        self.resp_body += data

    def redirect(self, url: str, code: int) -> int:
        """Go `http.Redirect`: absolute Location, HTML content type and link body for GET."""
        if not 100 <= code <= 999:
            return errno.HTTP_WRITE
        if _CONTROL.search(url):
            why = f"redirect target {_quote(url)} has a control character"
            self._report(f"{why}; the redirect was refused (percent-encode it, e.g. %00)")
            return errno.HTTP_WRITE
        if "\r" in url or "\n" in url:
            # Go's url.Parse refuses the target, so http.Redirect leaves it unresolved; its header
            # writer then puts the Location on one line.
            why = f"redirect target {_quote(url)} has CR or LF"
            self._report(f"{why}; each was replaced by a space in Location (percent-encode: %0D, %0A)")
            location = url.translate(_NEWLINES).strip(" \t")
        else:
            url = location = resolve_redirect(self.request.path, url)
        had_ct = any(k == "Content-Type" for k, _ in self.resp_headers)
        self._set_header("Location", _hex_escape_non_ascii(location))
        method = self.request.method
        if not had_ct and method in ("GET", "HEAD"):
            self._set_header("Content-Type", "text/html; charset=utf-8")
        self.ret_code(code)
        if not had_ct and method == "GET":
            text = _status_text(code)
            self.write(f'<a href="{_html_escape(url)}">{text}</a>.\n\n'.encode())
        return errno.NONE

    def response(self) -> HttpResponse:
        if self._problems > 1:
            header_problems(self.label, self._problems)
        return HttpResponse(
            status=self.status if self.status is not None else 200,
            headers=list(self.resp_headers),
            body=bytes(self.resp_body),
            instantiate_ns=self.instantiate_ns,
            wasm_ns=self.wasm_ns,
            pages=self.pages,
            host_calls=self.host_calls,
            memory=self.used_memory,
        )


def header_problems(label: str, problems: int) -> None:
    """The line closing a call that dropped or rewrote more than one response header."""
    log.warning("%s: %d response header problems in one call (the first is logged above)", label, problems)


def odd_header(label: str, key: str, value: str, first: bool) -> tuple[int, tuple[bytes, bytes] | None, bool]:
    """`eventHttpHeaderAdd` of a call with no HttpEvent (`nativecall.c` `serve`), for a header its C
    check does not pass: (errno, the field as the HTTP server writes it or None, whether it was dropped
    or rewritten). Checked as `HttpEvent.add_header` does; the problem is logged when `first` (one line
    per call, as `HttpEvent._report`)."""
    name, value, problem = check_header(key, value)
    if problem and first:
        log.warning("%s: %s", label, problem)
    if not name:
        return errno.HTTP_WRITE, None, bool(problem)
    return errno.NONE, (name.encode("latin-1", "replace"), value.encode("latin-1", "replace")), bool(problem)


def _status_text(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


_HTML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"})


def _html_escape(s: str) -> str:
    return s.translate(_HTML_ESCAPES)


def _hex_escape_non_ascii(s: str) -> str:
    return "".join(c if ord(c) < 0x80 else "".join(f"%{b:02X}" for b in c.encode()) for c in s)


def clean_path(p: str) -> str:
    """Go's path.Clean: collapse slashes, drop `.`, resolve `..` (never above a rooted `/`)."""
    if not p:
        return "."
    rooted = p.startswith("/")
    out: list[str] = []
    for part in p.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    cleaned = "/".join(out)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def resolve_redirect(request_path: str, url: str) -> str:
    """Make a relative redirect target absolute against the request path, like Go's http.Redirect."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.scheme or parts.netloc:
        return url
    old = request_path or "/"
    if not url.startswith("/"):
        url = old[: old.rfind("/") + 1] + url
    query = ""
    if "?" in url:
        url, query = url.split("?", 1)
        query = "?" + query
    trailing = url.endswith("/")
    url = clean_path(url)
    if trailing and not url.endswith("/"):
        url += "/"
    return url + query
