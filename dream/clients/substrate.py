"""The substrate client: what the gateway asks a given substrate before it proxies a request there, and
what substrates (and the daemon) send each other for pub-sub.

Routes:
    GET  /substrate/match?host=&path=&method=            → {match, warm}
    POST /substrate/pubsub/publish {channel, data, project?, app?, source?}  → {projects, functions}
    POST /substrate/pubsub/deliver {project, app, channel, data, source}      → {seq}  (a forwarded message)
    POST /substrate/pubsub/subscribe {project, app, channel, function}        → {}
    GET  /substrate/pubsub/tail?channel=&project=&after=&wait=               → {seq, messages}
    POST /substrate/p2p/command {project, app, branch, protocol, command, data, source}  → {data}
                                (404: no function handles the command)
    GET  /substrate/requests?after=&limit=                                    → the request inspector's records (`RequestRecords`)
`data` is base64.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, TypedDict

from dream.clients.base import ServiceClient, ServiceError
from dream.node.peers import PeerInfo

MATCH = "/substrate/match"
MATCH_TIMEOUT = 5.0
PUBSUB_PUBLISH = "/substrate/pubsub/publish"
PUBSUB_DELIVER = "/substrate/pubsub/deliver"
PUBSUB_TAIL = "/substrate/pubsub/tail"
P2P_COMMAND = "/substrate/p2p/command"
PUBLISH_TIMEOUT = 30.0


class Published(TypedDict):
    projects: list[str]  # the projects the message was published in
    functions: int | None  # the functions it was given to (None when published in every project)


class TailedMessage(TypedDict):
    seq: int
    project: str
    app: str
    channel: str
    data: str  # base64
    source: str
    at: float


class Tail(TypedDict):
    seq: int
    messages: list[TailedMessage]
    peer: str  # the substrate that answered: ask it again to follow on


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

    async def copies(self) -> list[PeerInfo]:
        """Every substrate of the universe."""
        return await self.peers.discover(self.service)

    async def publish(self, channel: str, data: bytes, project: str = "", app: str = "") -> Published:
        """Publish through some substrate; ServiceError (400) with the reason when it is refused."""
        body = {"channel": channel, "data": base64.b64encode(data).decode(), "project": project, "app": app}
        answer = await self._json("POST", PUBSUB_PUBLISH, json=body, timeout=PUBLISH_TIMEOUT)
        return Published(projects=list(answer["projects"]), functions=answer["functions"])

    async def deliver(self, peer: PeerInfo, message: dict[str, Any], timeout: float) -> None:
        """Hand a message published elsewhere to the substrate `peer`."""
        await self._json_at(peer, "POST", PUBSUB_DELIVER, json=message, timeout=timeout)

    async def tail(self, channel: str, project: str, after: int, wait: float, peer_id: str = "") -> Tail:
        """Messages kept by one substrate (`peer_id`, else any) after `after` (-1: from now on), waiting up
        to `wait` seconds for one."""
        copies = await self.copies()
        chosen = next((p for p in copies if p.id == peer_id), None)
        if chosen is None:
            if not copies:
                raise ServiceError(
                    self.service, "GET", PUBSUB_TAIL, None, "no substrate runs in the universe"
                )
            chosen = copies[0]
            if peer_id:  # the one followed is gone; another counts its messages its own way: from now on
                after = -1
        params = {"channel": channel, "project": project, "after": after, "wait": wait}
        answer = await self._json_at(chosen, "GET", PUBSUB_TAIL, params=params, timeout=wait + 10)
        return Tail(seq=int(answer["seq"]), messages=list(answer["messages"]), peer=chosen.id)

    async def command(self, peer: PeerInfo, body: dict[str, str], timeout: float) -> bytes:
        """Run a p2p command's handler on the substrate `peer`: what it wrote back (ServiceError 404 when
        no function handles the command)."""
        answer = await self._json_at(peer, "POST", P2P_COMMAND, json=body, timeout=max(timeout, 1.0))
        return base64.b64decode(answer["data"])

    async def requests(self, peer: PeerInfo, after: int = 0, limit: int = 1000) -> RequestRecords:
        """The request inspector's records of the substrate `peer` numbered above `after`; httpx.HTTPError
        when it does not answer, ServiceError when it refuses (409: its inspector is off)."""
        answer = await self._json_at(
            peer, "GET", REQUESTS, params={"after": after, "limit": limit}, timeout=REQUESTS_TIMEOUT
        )
        return records_of(answer)
