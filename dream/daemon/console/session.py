"""How the dashboard's own pages may change state without holding the daemon's token in a page.

`dream console` prints `http://127.0.0.1:<port>/console/login#<token>`. The login page reads the token
from the URL's fragment (never sent to the server, removed from the address bar at once) and trades it,
as `Authorization: Bearer`, for a session cookie: `HttpOnly` (no script reads it), `SameSite=Strict`
(no other site's request carries it). The guard then accepts a state-changing request that carries the
cookie *and* the header `x-dream-console: 1`: a page on another origin cannot send that header without a
CORS preflight, which the guard refuses, and its Origin is refused anyway.

The cookie's value is derived from the token, so it lasts as long as the token and needs no state.
"""

from __future__ import annotations

import hashlib
import hmac

COOKIE = "dream_console"
HEADER = "x-dream-console"


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"dream console session", hashlib.sha256).hexdigest()


def cookie_of(header: str) -> str:
    """The dashboard's cookie in a Cookie header ("" when absent)."""
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value.strip()
    return ""
