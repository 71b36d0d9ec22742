"""HTTP for every part of dream that serves or forwards it, with nothing service-specific in it.

`server` (with `message` and `exchange`) is the HTTP/1.1 server of the public ports, `upstream` the
keep-alive client a reverse proxy forwards with, `asgi` reads a request body for an ASGI app that passes
requests on, `answers` gives JSON routes the `{"code", "error"}` answer shape, `webhooks` signs and
verifies webhook deliveries. This package imports nothing of dream but `dream.errors`: services import
it, never the other way round.
"""
