"""The typed service clients (`dream.clients`) for tests: signed as a member of a running universe."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from dream.clients import Clients
from dream.node.peers import PeerClient
from dream.testing.harness import UniverseHandle

T = TypeVar("T")


def call(universe: UniverseHandle, use: Callable[[Clients], Awaitable[T]], *, key: bytes | None = None) -> T:
    """Run `use(clients)` against the universe's nodes (found through the daemon's registry of it)."""

    async def run() -> T:
        peers = PeerClient(
            secret=key or universe.key(),
            peer="test",
            universe_id=universe.id,
            universe=universe.name,
            registries=[f"{universe.client.url}/universe/{universe.name}/registry"],
            timeout=30.0,
        )
        try:
            async with asyncio.timeout(60):
                return await use(Clients(peers))
        finally:
            await peers.close()

    return asyncio.run(run())
