"""The shared libraries stay below the services: dream/http and dream/process import nothing of dream
but what the rule allows (read from their source, so a new import is caught as soon as it is written)."""

from __future__ import annotations

import ast
from pathlib import Path

import dream

DREAM = Path(dream.__file__).parent
# What each shared package may import from dream, besides itself.
ALLOWED = {"http": {"dream.errors"}, "process": set()}


def dream_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name == "dream" or name.startswith("dream.")}


def test_shared_packages_import_only_what_their_rule_allows() -> None:
    wrong = []
    for package, allowed in ALLOWED.items():
        files = sorted((DREAM / package).rglob("*.py"))
        assert files, f"dream/{package} has no modules"
        for path in files:
            for name in dream_imports(path):
                own = name == f"dream.{package}" or name.startswith(f"dream.{package}.")
                if not own and name not in allowed:
                    wrong.append(f"{path.relative_to(DREAM.parent)} imports {name}")
    assert not wrong, "a shared package imports a service or the daemon:\n" + "\n".join(wrong)


def test_the_rule_sees_an_import_it_forbids(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from dream.node.runtime import Node\nimport dream.errors\nfrom . import sibling\n")
    assert dream_imports(module) == {"dream.node.runtime", "dream.errors"}
