"""What every service client shares: one signed `PeerClient` underneath and one error type.

Discovery, request signing and failover between the nodes of a service stay in `dream.node.peers`; a
client only knows its service's name, its route strings and the shapes its answers come in.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from dream.errors import DreamError
from dream.node.peers import PeerClient, PeerInfo


class ServiceError(DreamError):
    """A service's node refused a call, failed, or none could be reached.

    The message is the node's own sentence (or what went wrong on the way), then which service, which
    route and what HTTP status came back, e.g.
    "job job-1 does not exist (patrick GET /patrick/job/job-1: HTTP 400)"."""

    def __init__(self, service: str, method: str, path: str, status: int | None, message: str) -> None:
        self.service = service
        self.method = method
        self.path = path
        self.status = status  # None: no node answered
        self.message = message
        answered = f"HTTP {status}" if status is not None else "no answer"
        super().__init__(f"{message} ({service} {method} {path}: {answered})")

    @property
    def not_found(self) -> bool:
        return self.status == 404


class ServiceClient:
    """Typed calls to one service's p2p API, made through a universe member's `PeerClient`."""

    service: ClassVar[str]

    def __init__(self, peers: PeerClient) -> None:
        self.peers = peers

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The raw answer of some node of the service (failing over to the others)."""
        try:
            return await self.peers.call(self.service, method, path, **kwargs)
        except DreamError as exc:  # no node of the service runs, or none answered
            raise ServiceError(self.service, method, path, None, str(exc)) from None

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._decode(method, path, await self._call(method, path, **kwargs))

    async def _json_at(self, peer: PeerInfo, method: str, path: str, **kwargs: Any) -> Any:
        """A call to one given node of the service (no failover); httpx.HTTPError when it is unreachable."""
        return self._decode(method, path, await self.peers.request(peer, method, path, **kwargs))

    def _decode(self, method: str, path: str, response: httpx.Response) -> Any:
        """The decoded JSON answer; an error status or a body that is not JSON is a ServiceError."""
        status = response.status_code
        try:
            data = response.json()
        except ValueError:
            raise ServiceError(self.service, method, path, status, "the answer is not JSON") from None
        if status >= 400:
            said = data.get("error") if isinstance(data, dict) else None
            raise ServiceError(self.service, method, path, status, str(said or "the call was refused"))
        return data
