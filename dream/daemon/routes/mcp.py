"""`/mcp`: the daemon's MCP server over streamable HTTP (`console/mcp_server.py`).

The SDK is imported, and its session manager started, on the first request: the daemon's start-up does
not pay for it. The server is stateless and answers JSON: each POST is one JSON-RPC exchange. Every POST
goes through the guard like any state-changing route, so an MCP client sends the daemon's token
(`Authorization: Bearer`; `dream mcp` prints a configuration with it).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from dream.daemon.multiverse import Multiverse


class McpEndpoint:
    """The ASGI app at `/mcp`, made on first use."""

    def __init__(self) -> None:
        self.app: Any = None
        self.lock = asyncio.Lock()
        self.running: asyncio.Task[None] | None = None

    async def _start(self, multiverse: Multiverse) -> Any:
        async with self.lock:
            if self.app is None:
                from dream.daemon.console import mcp_server

                server = mcp_server.build(multiverse)
                app = server.streamable_http_app(
                    streamable_http_path="/mcp", stateless_http=True, json_response=True
                )
                manager = server.session_manager
                ready = asyncio.Event()

                async def run() -> None:
                    async with manager.run():
                        ready.set()
                        await asyncio.Event().wait()  # until the daemon's loop ends

                self.running = asyncio.get_running_loop().create_task(run(), name="mcp sessions")
                await ready.wait()
                self.app = app
        return self.app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in ("POST", "DELETE"):
            body = (
                b'{"code":405,"error":"/mcp answers POST only (a stateless MCP server over streamable HTTP): '
                b'configure an MCP client with this URL (`dream mcp` prints how)"}'
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 405,
                    "headers": [(b"content-type", b"application/json"), (b"allow", b"POST")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        app = await self._start(scope["app"].state.daemon.multiverse)
        await app(scope, receive, send)


def routes() -> list[Route]:
    return [Route("/mcp", McpEndpoint(), methods=["GET", "POST", "DELETE"])]
