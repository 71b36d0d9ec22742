"""The shared node runtime: every service and simple of a universe runs on it, one OS process each."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dream.node.config import NodeConfig
    from dream.node.runtime import Node

__all__ = ["Node", "NodeConfig"]


def __getattr__(name: str) -> Any:
    # Lazy, so the daemon can import `dream.node.entry` without loading the whole runtime.
    if name == "Node":
        from dream.node.runtime import Node

        return Node
    if name == "NodeConfig":
        from dream.node.config import NodeConfig

        return NodeConfig
    raise AttributeError(name)
