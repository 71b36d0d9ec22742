"""elder: the bootstrap simple; every node announces itself here."""

from __future__ import annotations

from dream.node import Node


class Simple(Node):
    registry = True
