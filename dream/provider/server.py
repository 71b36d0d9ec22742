"""`GitProvider`: the store, the webhook deliverer and the ASGI app in one embeddable object."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request

from dream.provider.http import create_app, request_base_url
from dream.provider.smart_http import install_hooks
from dream.provider.store import RepositoryStore
from dream.provider.webhooks import Deliverer


class GitProvider:
    """A GitHub stand-in rooted at `root`.

    Run `.app` with any ASGI server (or `await serve(host, port)`), set `base_url` to the address
    clients use (it goes into clone URLs and webhook payloads; without it, each request's Host is used).
    """

    def __init__(self, root: Path, *, base_url: str | None = None) -> None:
        self.root = Path(root)
        self.store = RepositoryStore(self.root)
        self.deliverer = Deliverer(self.store)
        self._base_url = base_url.rstrip("/") if base_url else None
        self.port: int | None = None  # set by `serve` once bound
        self.app: Starlette = create_app(
            self.store,
            self.deliverer,
            hooks_dir=install_hooks(self.root / ".hooks"),
            base_url=self._url_for,
        )

    @property
    def base_url(self) -> str | None:
        return self._base_url

    @base_url.setter
    def base_url(self, value: str | None) -> None:
        self._base_url = value.rstrip("/") if value else None

    def _url_for(self, request: Request) -> str:
        return self._base_url or request_base_url(request)

    async def wait_deliveries(self, timeout: float = 10.0) -> None:
        """Wait until every push received so far has been turned into recorded deliveries.

        Works from any event loop (also when the server runs on another thread's loop).
        """
        if not await self.deliverer.wait_idle(timeout):
            raise TimeoutError(
                f"webhook deliveries still pending after {timeout}s ({self.deliverer.busy} in flight); "
                "check that the hook receivers answer"
            )

    def wait_deliveries_blocking(self, timeout: float = 10.0) -> None:
        """`wait_deliveries` for plain threads; never call it on the server's own event loop."""
        if not self.deliverer.wait_idle_blocking(timeout):
            raise TimeoutError(
                f"webhook deliveries still pending after {timeout}s ({self.deliverer.busy} in flight); "
                "check that the hook receivers answer"
            )

    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve until cancelled. With port 0 the kernel picks one; `base_url` is set from it if unset."""
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        self.port = sock.getsockname()[1]
        if self._base_url is None:
            self.base_url = f"http://{f'[{host}]' if ':' in host else host}:{self.port}"
        server = uvicorn.Server(
            uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on")
        )
        try:
            await server.serve(sockets=[sock])
        except asyncio.CancelledError:
            server.should_exit = True
            raise
        finally:
            sock.close()

    async def aclose(self) -> None:
        """Stop pending deliveries and close the HTTP client (for embedders that skip the lifespan)."""
        await self.deliverer.aclose()

    def close(self) -> None:
        self.store.close()
