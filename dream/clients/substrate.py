"""The substrate client: what the gateway asks a given substrate before it proxies a request there.

Routes: GET /substrate/match?host=&path=&method= → {match, warm};
        GET /substrate/requests?after=&limit=    → the request inspector's records (`RequestRecords`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

from dream.clients.base import ServiceClient
from dream.node.peers import PeerInfo

MATCH = "/substrate/match"
MATCH_TIMEOUT = 5.0
REQUESTS = "/substrate/requests"
REQUESTS_TIMEOUT = 5.0


class RequestRecords(TypedDict):
    """A node's request records: its id, its ring's size, the last `seq` it gave, and the records above
    the `after` asked for (dicts of the node's RECORD_FIELDS), oldest first."""

    node: str
    size: int
    last: int
    records: list[dict[str, Any]]


def records_of(answer: Any) -> RequestRecords:
    return RequestRecords(
        node=str(answer["node"]),
        size=int(answer["size"]),
        last=int(answer["last"]),
        records=list(answer["records"]),
    )


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

    async def requests(self, peer: PeerInfo, after: int = 0, limit: int = 1000) -> RequestRecords:
        """The request inspector's records of the substrate `peer` numbered above `after`; httpx.HTTPError
        when it does not answer, ServiceError when it refuses (409: its inspector is off)."""
        answer = await self._json_at(
            peer, "GET", REQUESTS, params={"after": after, "limit": limit}, timeout=REQUESTS_TIMEOUT
        )
        return records_of(answer)
