"""Host names as the public ports route them.

`<fqdn>.localhost` reaches the same function or website as `<fqdn>`: browsers and curl send every
`*.localhost` name to the loopback address by themselves (RFC 6761), so a user opens
`http://<fqdn>.localhost:<port>/` with no `/etc/hosts` edit and no Host header.
"""

from __future__ import annotations

# The suffix a browser resolves to loopback by itself; it is dropped before routing.
LOCALHOST_SUFFIX = ".localhost"


def strip_localhost(host: str) -> str:
    """`<fqdn>.localhost` → `<fqdn>`; any other name as it is (a bare `localhost` too)."""
    if host.endswith(LOCALHOST_SUFFIX) and len(host) > len(LOCALHOST_SUFFIX):
        return host[: -len(LOCALHOST_SUFFIX)]
    return host


def routed_host(raw: bytes | str) -> str:
    """A Host header (or SNI name) as routing reads it: lower-case, without port, trailing dot or the
    `.localhost` suffix."""
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    return strip_localhost(text.split(":", 1)[0].lower().rstrip("."))


def localhost_twin(fqdn: str) -> str:
    """The name a browser reaches `fqdn` by on this machine."""
    return fqdn + LOCALHOST_SUFFIX
