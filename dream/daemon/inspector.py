"""The request inspector, daemon side: the records of a universe's substrates and gateways, gathered
and joined into one list (what `GET /inspect/{universe}`, `dream inspect`, the dashboard and the MCP tool
show).

A substrate's record of a function call names the gateway request it came through (`via`); that
gateway's record adds its own time to it. A gateway record no substrate call matches (a website, a 404,
a 502 when no substrate answered) is shown on its own.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from dream.clients.base import ServiceError
from dream.clients.gateway import GatewayClient
from dream.clients.substrate import RequestRecords, SubstrateClient
from dream.daemon.universe import NodeRecord, Universe
from dream.node.peers import PeerClient, PeerInfo

# The fields every joined record has (None when a record does not know it).
FIELDS = (
    "time",
    "method",
    "host",
    "path",
    "status",
    "total_ms",
    "gateway_ms",
    "instantiate_ms",
    "wasm_ms",
    "pages",
    "host_calls",
    "bytes_in",
    "bytes_out",
    "function",
    "project",
    "substrate",
    "gateway",
)


def _ms(ns: Any) -> float | None:
    return round(ns / 1e6, 3) if isinstance(ns, int) and ns > 0 else None


def _peer(record: NodeRecord) -> PeerInfo:
    return PeerInfo.of(record.config, pid=record.pid or 0, registry=False)


async def _read(
    peers: PeerClient, record: NodeRecord, errors: list[str]
) -> tuple[str, RequestRecords | None]:
    name = record.config.name
    client = SubstrateClient(peers) if name == "substrate" else GatewayClient(peers)
    try:
        return name, await client.requests(_peer(record))
    except (httpx.HTTPError, ServiceError) as exc:
        errors.append(f"{record.config.label}: {exc or type(exc).__name__}")
        return name, None


async def gather(
    universe: Universe, *, since: float = 0.0, function: str = "", limit: int = 200
) -> dict[str, Any]:
    """{universe, requests: joined records newer than `since` (epoch seconds), oldest first, at most
    `limit` (the newest), errors: nodes that did not answer}."""
    serving = [
        r
        for r in universe.nodes.values()
        if r.config.name in ("substrate", "gateway") and r.alive and "p2p" in r.config.ports
    ]
    errors: list[str] = []
    peers = universe.peer_client()
    try:
        answers = await asyncio.gather(*(_read(peers, r, errors) for r in serving))
    finally:
        await peers.close()
    calls: list[dict[str, Any]] = []
    forwarded: dict[str, dict[str, Any]] = {}
    for name, answer in answers:
        if answer is None:
            continue
        for raw in answer["records"]:
            if name == "substrate":
                calls.append(_call_record(raw, answer["node"]))
            else:
                forwarded[f"{answer['node']} {raw['seq']}"] = _gateway_record(raw, answer["node"])
    for call in calls:
        via = call.pop("via", "")
        seen = forwarded.pop(via, None) if via else None
        if via:
            call["gateway"] = via.split(" ", 1)[0]
        if seen is not None:
            call["gateway_ms"] = seen["total_ms"]
    joined = [r for r in calls + list(forwarded.values()) if r["time"] > since]
    if function:
        joined = [r for r in joined if r["function"] == function]
    joined.sort(key=lambda r: r["time"])
    return {"universe": universe.name, "requests": joined[-limit:] if limit else [], "errors": errors}


# What a substrate's and a gateway's records say alike (a record's keys keep this order).
SHARED = ("time", "method", "host", "path", "status")


def _record(raw: dict[str, Any], **rest: Any) -> dict[str, Any]:
    return {**{key: raw[key] for key in SHARED}, "total_ms": _ms(raw["total_ns"]), **rest}


def _call_record(raw: dict[str, Any], node: str) -> dict[str, Any]:
    return _record(
        raw,
        gateway_ms=None,
        instantiate_ms=_ms(raw["instantiate_ns"]),
        wasm_ms=_ms(raw["wasm_ns"]),
        pages=raw["pages"] or None,
        host_calls=raw["host_calls"],
        bytes_in=raw["bytes_in"],
        bytes_out=raw["bytes_out"],
        function=raw["function"],
        project=raw["project"],
        substrate=node,
        gateway=None,
        via=raw["via"],
    )


# What a gateway cannot know of a request: a substrate measures it.
NOT_SEEN_BY_GATEWAY = dict.fromkeys(
    ("instantiate_ms", "wasm_ms", "pages", "host_calls", "bytes_in", "function", "project")
)


def _gateway_record(raw: dict[str, Any], node: str) -> dict[str, Any]:
    """A request the gateway forwarded (or answered itself) that no substrate record joins."""
    gateway_ms, substrate = _ms(raw["total_ns"]), raw["substrate"] or None
    return _record(
        raw,
        gateway_ms=gateway_ms,
        bytes_out=raw["bytes_out"],
        substrate=substrate,
        gateway=node,
        **NOT_SEEN_BY_GATEWAY,
    )
