"""The description of one node the daemon hands to the process it spawns."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

NodeKind = Literal["service", "simple"]


@dataclass
class NodeConfig:
    universe: str
    universe_id: str
    key: str  # hex universe secret: proof of membership on the node-to-node API
    kind: NodeKind
    name: str  # service name (`tns`) or simple name (`client`)
    index: int  # instance number among copies of the same service
    id: str  # peer id, stable across restarts
    root: str  # this node's data directory
    ports: dict[str, int]
    bootstrap: list[str] = field(default_factory=list)  # p2p base URLs of registry nodes (seer, elder)
    daemon_url: str = ""
    daemon_pid: int = 0
    daemon_start: str = ""  # /proc starttime of the daemon, so a reused pid is not mistaken for it
    clients: list[str] = field(default_factory=list)  # services a simple carries clients for
    others: dict[str, int] = field(default_factory=dict)
    branches: list[str] = field(default_factory=lambda: ["main", "master"])

    @property
    def label(self) -> str:
        return f"{self.name}@{self.universe}"

    @property
    def dirname(self) -> str:
        return f"{self.name}-{self.index}" if self.kind == "service" else f"simple-{self.name}"

    @property
    def secret(self) -> bytes:
        return bytes.fromhex(self.key)

    @property
    def verbose(self) -> bool:
        return bool(self.others.get("verbose"))

    @property
    def root_path(self) -> Path:
        return Path(self.root)

    @property
    def log_path(self) -> Path:
        return self.root_path / "node.log"

    def p2p_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['p2p']}"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeConfig:
        return cls(**data)
