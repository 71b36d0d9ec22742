"""Plain request/response values exchanged between the substrate and the wasm host."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class HttpRequest:
    """One HTTP request as the guest sees it through the `taubyte/sdk` event functions.

    `path` is the decoded URL path without the query string; `host` is the Host header as received
    (may carry `:port`); the user agent is read from `headers`.
    """

    method: str
    host: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    # The headers as the server received them (lower-case names), used instead of `headers` when given:
    # they are decoded only if the guest reads a header.
    raw_headers: list[tuple[bytes, bytes]] | None = None


@dataclass
class HttpResponse:
    """What the guest produced: status (first valid RetCode/redirect, else 200), added headers, body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    # What the call cost, for the request inspector (0 / None when the call path does not measure it:
    # only the raw path does): instantiation and guest time in ns, linear memory pages at the end, and
    # host calls made, by host function name.
    instantiate_ns: int = 0
    wasm_ns: int = 0
    pages: int = 0
    host_calls: dict[str, int] | None = None
    memory: int | None = None  # bytes of linear memory the guest ended with, when the call was measured

    def header(self, name: str) -> str | None:
        """First value of a response header, case-insensitively (None when absent)."""
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)
