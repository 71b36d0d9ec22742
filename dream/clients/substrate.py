"""The substrate client: what the gateway asks a given substrate before it proxies a request there.

Route: GET /substrate/match?host=&path=&method= → {match, warm}.
"""

from __future__ import annotations

from dataclasses import dataclass

from dream.clients.base import ServiceClient
from dream.node.peers import PeerInfo

MATCH = "/substrate/match"
MATCH_TIMEOUT = 5.0


@dataclass(frozen=True)
class Match:
    """Whether a substrate serves a request (a function or website matches), and whether the
    function's module is already loaded there (`warm`)."""

    match: bool
    warm: bool


class SubstrateClient(ServiceClient):
    service = "substrate"

    async def match(self, peer: PeerInfo, host: str, path: str, method: str) -> Match:
        """Ask the substrate `peer`; httpx.HTTPError when it does not answer, ServiceError when its
        answer is an error or not JSON."""
        answer = await self._json_at(
            peer,
            "GET",
            MATCH,
            params={"host": host, "path": path, "method": method},
            timeout=MATCH_TIMEOUT,
        )
        return Match(match=bool(answer.get("match")), warm=bool(answer.get("warm")))
