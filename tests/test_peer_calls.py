"""Nodes talk to each other through the typed clients (dream/clients): no raw peer call, with its route
string, anywhere else in the package."""

from __future__ import annotations

import ast
from pathlib import Path

import dream

PACKAGE = Path(dream.__file__).parent
ALLOWED = {PACKAGE / "clients", PACKAGE / "node" / "peers.py"}  # the clients, and the transport itself
PEER_CALLS = {"json", "call"}  # PeerClient's request methods


def peer_calls(path: Path) -> list[str]:
    """`<something>.peers.json(...)` / `.peers.call(...)` in a module, as `path:line`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in PEER_CALLS
            and isinstance(node.func.value, ast.Attribute)
            and node.func.value.attr == "peers"
        ):
            found.append(f"{path.relative_to(path.parents[1])}:{node.lineno}")
    return found


def test_only_the_clients_call_other_nodes() -> None:
    raw = [
        call
        for path in sorted(PACKAGE.rglob("*.py"))
        if not any(path == allowed or allowed in path.parents for allowed in ALLOWED)
        for call in peer_calls(path)
    ]
    assert raw == [], f"raw peer calls outside dream/clients (add a client method instead): {raw}"


def test_the_check_sees_a_peer_call(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text('async def f(self):\n    return await self.peers.json("tns", "GET", "/tns/stats")\n')
    assert peer_calls(module) == [f"{tmp_path.name}/m.py:2"]
