"""The house rules of docs/architecture.md, read from the source so a wrong import fails as soon as it is
written: which part of `dream/` may import which, and that nodes talk to each other only through the typed
clients (no raw peer call, with its route string, outside dream/clients)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import dream

PACKAGE = Path(dream.__file__).parent

# Each part of dream/ (a folder or a top-level module) and what it may import from dream besides itself.
FOUNDATION = {
    "__init__",
    "errors",
    "settings",
    "spec",
    "api_token",
    "base58",
    "unused_imports",
    "gitrun",
    "lazy",
    "sdk",
}
LIBRARIES: dict[str, set[str]] = {
    "process": set(),
    "http": set(),
    "tls": set(),
    "wasm": set(),
    "tcc": set(),
    "limits": {"tcc"},
    "builders": {"tcc"},
    "shapes": {"limits", "tcc"},
    "node": {"http", "process"},
    "clients": {"node", "tcc"},
}
SERVICES = {
    "auth",
    "seer",
    "tns",
    "patrick",
    "monkey",
    "hoarder",
    "substrate",
    "gateway",
    "githost",
    "simples",
}
DAEMON = {"daemon", "projects"}  # the daemon side: runs universes, and local builds for its actions
FRONT = {"cli", "client", "__main__"}  # the command line, over the daemon API's client
TESTING = {"testing"}
# Run on the user's side (doctor, kill, dream ca; validate compiles, run function builds and calls).
FRONT_LIBRARIES = {"builders", "process", "shapes", "limits", "tcc", "tls", "wasm"}


# Entry points load what their process needs, across the layers: the zygote's preload (forked nodes
# start with it imported).
ENTRY_POINTS = {PACKAGE / "node" / "preload.py": FOUNDATION | set(LIBRARIES)}


def allowed(part: str) -> set[str]:
    if part in FOUNDATION:
        return FOUNDATION
    if part in LIBRARIES:
        return FOUNDATION | LIBRARIES[part]
    if part in SERVICES:
        return FOUNDATION | set(LIBRARIES)
    if part in DAEMON:
        return FOUNDATION | set(LIBRARIES) | SERVICES | DAEMON
    if part in FRONT:
        return FOUNDATION | FRONT | FRONT_LIBRARIES
    if part in TESTING:
        return FOUNDATION | set(LIBRARIES) | SERVICES | DAEMON | FRONT
    raise AssertionError(
        f"dream/{part} is in no layer: add it to tests/test_architecture.py and docs/architecture.md"
    )


def part_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE).parts
    return rel[0] if len(rel) > 1 else rel[0].removesuffix(".py")


def imported_parts(path: Path) -> list[tuple[int, str]]:
    """(line, part of dream) for every import of dream in a module, lazy ones inside functions too."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "dream":  # from dream import x: x is the part
                names = [f"dream.{alias.name}" for alias in node.names]
            else:
                names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "dream" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "sdk" not in p.relative_to(PACKAGE).parts[:1])


def test_every_part_imports_only_what_its_layer_allows() -> None:
    wrong = []
    for path in modules():
        part = part_of(path)
        ok = ENTRY_POINTS.get(path) or allowed(part)
        for line, other in imported_parts(path):
            if other != part and other not in ok:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports dream.{other}")
    assert not wrong, "imports the layers forbid (docs/architecture.md):\n" + "\n".join(wrong)


def test_a_service_importing_another_service_is_caught(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from dream.substrate.runner import Runner\nfrom dream import projects\nimport dream.errors\n"
        "def f():\n    from dream.clients import tns\n"
    )
    found = {other for _, other in imported_parts(module)}
    assert found == {"substrate", "projects", "errors", "clients"}
    assert "substrate" not in allowed("monkey")
    assert "daemon" not in allowed("cli")
    with pytest.raises(AssertionError, match="in no layer"):
        allowed("newthing")


PEER_CALLS = {"json", "call"}  # PeerClient's request methods
PEER_CALLERS = {PACKAGE / "clients", PACKAGE / "node" / "peers.py"}  # the clients, and the transport itself


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
        for path in modules()
        if not any(path == allowed or allowed in path.parents for allowed in PEER_CALLERS)
        for call in peer_calls(path)
    ]
    assert raw == [], f"raw peer calls outside dream/clients (add a client method instead): {raw}"


def test_the_check_sees_a_peer_call(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text('async def f(self):\n    return await self.peers.json("tns", "GET", "/tns/stats")\n')
    assert peer_calls(module) == [f"{tmp_path.name}/m.py:2"]
