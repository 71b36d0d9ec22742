"""Holding a long-poll only while its caller is there.

A long-poll handler waits (for a job, a change) up to its deadline. When the caller goes away meanwhile,
nothing tells the handler: it went on holding the call, and the node's stop waited for it (tns and
patrick took a second longer to stop than any other node, once their callers had stopped). `held` waits
for the handler's event or for the client's disconnect, whichever comes first: ASGI's `receive` answers
`http.disconnect` once the request's body was read and the client is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


async def held(request: Request, waiting: Awaitable[Any]) -> bool:
    """Await `waiting`; False, having cancelled it, once the client is gone (even when `waiting` ended
    in the same moment: a caller that is gone must not be handed anything). What `waiting` raises is
    raised here while the client is there."""
    wait = asyncio.ensure_future(waiting)
    gone = asyncio.ensure_future(_disconnected(request.receive))
    try:
        done, _ = await asyncio.wait({wait, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not wait.done():
            wait.cancel()
    if gone in done:
        if not gone.cancelled():
            gone.exception()  # retrieved: a receive that failed says the client is gone too
        # Its clean-up (a lock it held) runs now; what it raised has nobody left to hear it.
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await wait
        return False
    wait.result()
    return True


async def _disconnected(receive: Receive) -> None:
    """Return once the client is gone. The body's messages come first (a handler that read no body
    leaves them here), then only the end. A server that answers anything else cannot say when the
    client goes: this then never returns."""
    while (message := await receive())["type"] == "http.request" and message.get("more_body", False):
        pass
    if message["type"] == "http.request":
        message = await receive()
    if message["type"] != "http.disconnect":
        await asyncio.Event().wait()
