"""Seer's DNS: names of the universe's services and of projects' domains → the nodes that serve them.

- `<service>.tau.<universe>.localtau` (and `tau.<universe>.localtau`) → A records of that service's nodes;
- generated domains (`<x>.g.<universe>.localtau`, and the older `<x>.<universe>.localtau`) and domains
  published in tns (`domains/<reversed fqdn>/links`) → A records of the HTTP-serving nodes (substrate,
  gateway);
- anything else → NXDOMAIN.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

from dnslib import QTYPE, RCODE, RR, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSServer

from dream.settings import NETWORK_SUFFIX

log = logging.getLogger("dream.seer.dns")
TTL = 5
LOOPBACK = "127.0.0.1"
SERVING = ("gateway", "substrate")

# (service name or None for "serving nodes") → node addresses; tns check for a custom domain.
T = TypeVar("T")
NodesFor = Callable[[str], Awaitable[list[str]]]
HasDomain = Callable[[str], Awaitable[bool]]


class UniverseResolver(BaseResolver):
    def __init__(
        self, universe: str, loop: asyncio.AbstractEventLoop, nodes_for: NodesFor, has_domain: HasDomain
    ) -> None:
        self.universe = universe.lower()
        self.loop = loop
        self.nodes_for = nodes_for
        self.has_domain = has_domain
        suffix = re.escape(f"{self.universe}.{NETWORK_SUFFIX}")
        self.services_re = re.compile(rf"^(?:([^.]+)\.)?tau\.{suffix}$")
        self.generated_re = re.compile(rf"^[^.]+\.(?:g\.)?{suffix}$")

    def answer(self, name: str) -> tuple[list[str], str]:
        """(addresses, why) for a query name; no addresses means NXDOMAIN."""
        name = name.lower().rstrip(".")
        match = self.services_re.match(name)
        if match:
            service = match.group(1)
            if service:
                return self._run(self.nodes_for(service), []), f"{service} nodes"
            return [LOOPBACK], "the universe"
        if self.generated_re.match(name) or self._run(self.has_domain(name), False):
            addresses: list[str] = []
            for service in SERVING:
                addresses += self._run(self.nodes_for(service), [])
            return sorted(set(addresses)), "HTTP-serving nodes"
        return [], "unknown name"

    def _run(self, coro: Awaitable[T], fallback: T) -> T:
        # dnslib answers in its own threads; the registry and tns clients live on the node's loop.
        future = asyncio.run_coroutine_threadsafe(_awaited(coro), self.loop)
        try:
            return future.result(timeout=3)
        except Exception as exc:
            log.warning("lookup failed: %s", exc)
            return fallback

    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        reply = request.reply()
        qname = request.q.qname
        addresses, why = self.answer(str(qname))
        if not addresses:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        if request.q.qtype in (QTYPE.A, QTYPE.ANY):
            for address in sorted(set(addresses)):
                reply.add_answer(RR(qname, QTYPE.A, rdata=A(address), ttl=TTL))
        if request.q.qtype in (QTYPE.TXT, QTYPE.ANY):
            reply.add_answer(RR(qname, QTYPE.TXT, rdata=TXT(why), ttl=TTL))
        return reply


class DnsServers:
    """UDP and TCP servers on the same port."""

    def __init__(self, resolver: UniverseResolver, port: int) -> None:
        self.servers = [
            DNSServer(resolver, address=LOOPBACK, port=port, tcp=tcp, logger=_QuietLogger())
            for tcp in (False, True)
        ]

    def start(self) -> None:
        for server in self.servers:
            server.start_thread()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
            server.server.server_close()


class _QuietLogger:
    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable
