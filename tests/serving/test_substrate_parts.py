"""The substrate's parts keep to their purpose: every call it makes to another node is in `sources`."""

from __future__ import annotations

import ast
from pathlib import Path

import dream.substrate

SUBSTRATE = Path(dream.substrate.__file__).parent
PEER_CALLS = {"json", "call"}  # PeerClient's request methods


def peer_calls(path: Path) -> list[str]:
    """`<something>.peers.json(...)` / `.peers.call(...)` in a module, as `file:line`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in PEER_CALLS
            and isinstance(node.func.value, ast.Attribute)
            and node.func.value.attr == "peers"
        ):
            found.append(f"{path.name}:{node.lineno}")
    return found


def test_only_sources_calls_other_nodes() -> None:
    calls = {path.name: peer_calls(path) for path in SUBSTRATE.glob("*.py")}
    assert calls["sources.py"], "sources.py makes the substrate's tns and hoarder calls"
    elsewhere = [call for name, found in calls.items() if name != "sources.py" for call in found]
    assert elsewhere == [], f"peer calls outside dream/substrate/sources.py: {elsewhere}"


def test_the_check_sees_a_peer_call(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text('async def f(self):\n    return await self.peers.json("tns", "GET", "/tns/stats")\n')
    assert peer_calls(module) == ["m.py:2"]
