"""The shared node runtime: every service and simple of a universe runs on it, one OS process each."""

from dream.node.config import NodeConfig
from dream.node.runtime import Node

__all__ = ["Node", "NodeConfig"]
