"""The gateway client: the request inspector's records of a given gateway.

Route: GET /gateway/requests?after=&limit= → `RequestRecords`.
"""

from __future__ import annotations

from dream.clients.base import ServiceClient
from dream.clients.substrate import REQUESTS_TIMEOUT, RequestRecords, records_of
from dream.node.peers import PeerInfo

REQUESTS = "/gateway/requests"


class GatewayClient(ServiceClient):
    service = "gateway"

    async def requests(self, peer: PeerInfo, after: int = 0, limit: int = 1000) -> RequestRecords:
        """The records of the gateway `peer` numbered above `after`; httpx.HTTPError when it does not
        answer, ServiceError when it refuses (409: its inspector is off)."""
        answer = await self._json_at(
            peer, "GET", REQUESTS, params={"after": after, "limit": limit}, timeout=REQUESTS_TIMEOUT
        )
        return records_of(answer)
