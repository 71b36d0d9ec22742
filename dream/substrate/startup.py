"""The substrate's start-up resolve: a substrate that starts in a universe already serving projects (a
snapshot loaded, a kept universe started again, a fork for a test) resolves the hosts tns routes and
loads their functions' compiled modules as soon as it runs, so the first request finds them ready
instead of paying three tns round trips and the module's load. Only builds already compiled on this
machine are loaded (monkey compiles each build it publishes; a snapshot load compiles what it lacks).

It runs in the background: the node is ready without waiting for it, and a request that comes first
shares the lookups in flight (`Resolver.table` and `Modules.get` make each once). A fresh universe has
nothing published: one tns lookup, then nothing.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from dream.errors import DreamError
from dream.substrate.routing import RouteTable

if TYPE_CHECKING:
    from dream.substrate.resolver import Resolver

STARTUP_HOSTS = 64  # hosts resolved at start-up (the others on their first request, as before)
STARTUP_WAIT = 10.0  # seconds to keep asking while tns does not answer yet (it starts beside us)
RETRY = 0.1  # seconds between those tries
LINKS_PREFIX = "http/functions/"


def hosts_of(keys: list[str], limit: int = STARTUP_HOSTS) -> list[str]:
    """The first `limit` hosts named by tns's `http/functions/<reversed fqdn>/links` keys."""
    hosts: dict[str, None] = {}
    for key in keys:
        parts = key.strip("/").split("/")
        if len(parts) > 3 and parts[-1] == "links":
            hosts[".".join(reversed(parts[2:-1]))] = None
            if len(hosts) == limit:
                break
    return list(hosts)


async def resolve_published(resolver: Resolver) -> int:
    """Resolve the hosts tns routes (up to STARTUP_HOSTS) and load their functions; returns how many
    functions are ready. Failures are left to the first request, which reports them."""
    deadline = time.monotonic() + STARTUP_WAIT
    while True:
        try:
            keys = await resolver.sources.tns_lookup(LINKS_PREFIX)
            break
        except DreamError:
            if time.monotonic() > deadline:
                return 0
            await asyncio.sleep(RETRY)
    hosts = hosts_of(keys)
    tables = await asyncio.gather(*(resolver.table(host) for host in hosts), return_exceptions=True)
    # Only builds this machine has compiled (a load from its cache, milliseconds): one that needs a
    # download and a compile waits for its first request, as before, instead of a start paying for all.
    functions = [
        resource
        for table in tables
        if isinstance(table, RouteTable)
        for resource in table.functions
        if resource.asset is not None and resolver.modules.compiled(resource.asset)
    ]
    loaded = await asyncio.gather(*(resolver.function(f) for f in functions), return_exceptions=True)
    ready = sum(1 for outcome in loaded if not isinstance(outcome, BaseException))
    resolver.log.info("start-up resolve: %d hosts, %d functions ready", len(hosts), ready)
    return ready
