"""`setSubscriptionChannel` subscriptions, kept in tns so that they outlive the substrate that took them.

A function that subscribes itself to a channel stays subscribed while it is in its project's config,
through restarts of any substrate: each subscription is a tns entry

    pubsub/subscriptions/<project>/<application or "-">/<channel, base64url>/<function id>
        → {"project", "app", "channel", "function"}

(the channel is encoded: a channel name may hold "/", a tns segment may not). Every substrate copy reads
a project's entries again once tns has changed (the resolver's generation), so one pushed by another
copy, or before a restart, is honoured on the next message.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dream.substrate.sources import Sources

ROOT = "pubsub/subscriptions"
NO_APP = "-"  # the application segment of a project's own subscriptions


def project_prefix(project: str) -> str:
    return f"{ROOT}/{project}"


def subscription_key(project: str, app: str, channel: str, function: str) -> str:
    encoded = base64.urlsafe_b64encode(channel.encode()).decode().rstrip("=") or "="
    return f"{project_prefix(project)}/{app or NO_APP}/{encoded}/{function}"


class Subscriptions:
    """(project, app, channel) → the ids of the functions that subscribed to it, as tns keeps them."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources
        self.functions: dict[tuple[str, str, str], set[str]] = {}
        self.read_at: dict[str, int] = {}  # project → the generation its entries were read at

    def of(self, project: str, app: str, channel: str) -> set[str]:
        return self.functions.get((project, app, channel), set())

    def current(self, project: str, generation: int) -> bool:
        """Whether the project's entries were read at `generation` (the tns generation now)."""
        return self.read_at.get(project) == generation

    async def read(self, project: str, generation: int) -> bool:
        """Read the project's entries again unless they were read at `generation`: True when read."""
        if self.current(project, generation):
            return False
        # One fetch: tns rebuilds the tree under the prefix (application → channel → function → entry).
        tree = await self.sources.tns_fetch(project_prefix(project))
        for topic in [t for t in self.functions if t[0] == project]:
            del self.functions[topic]
        for channels in (tree or {}).values() if isinstance(tree, dict) else ():
            for functions in channels.values() if isinstance(channels, dict) else ():
                for value in functions.values() if isinstance(functions, dict) else ():
                    if isinstance(value, dict) and value.get("function") and value.get("channel"):
                        topic = (project, str(value.get("app") or ""), str(value["channel"]))
                        self.functions.setdefault(topic, set()).add(str(value["function"]))
        if len(self.read_at) > 256:
            self.read_at.clear()
        self.read_at[project] = generation
        return True

    async def add(self, project: str, app: str, channel: str, function: str) -> bool:
        """Keep a subscription (in tns first, so that it is durable once this returns): False when it
        was kept already (then tns is not written again: every write makes the substrates re-read)."""
        if function in self.of(project, app, channel):
            return False
        value: dict[str, Any] = {"project": project, "app": app, "channel": channel, "function": function}
        await self.sources.tns_push(subscription_key(project, app, channel, function), value)
        self.functions.setdefault((project, app, channel), set()).add(function)
        return True
