"""gateway: a node of the universe; its service logic builds on the shared runtime."""

from __future__ import annotations

from dream.node import Node


class Service(Node):
    fast_loop = True
