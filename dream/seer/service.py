"""seer: the universe's directory of nodes (announce + heartbeat)."""

from __future__ import annotations

from typing import Any

from dream.node import Node


class Service(Node):
    registry = True

    def health(self) -> dict[str, Any]:
        assert self.peerstore is not None
        return {"peers": len(self.peerstore.peers())}
