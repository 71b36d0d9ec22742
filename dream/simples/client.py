"""client: a simple carrying clients for chosen services, used by fixtures and tests."""

from __future__ import annotations

from typing import Any

from dream.node import Node


class Simple(Node):
    def health(self) -> dict[str, Any]:
        return {"clients": self.config.clients}
