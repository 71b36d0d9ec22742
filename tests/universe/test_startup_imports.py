"""What a node has imported once it is up: nothing it does not need to start.

The daemon's nodes write their `sys.modules` when ready (the test-only DREAM_NODE_MODULES_DUMP); a module
that turns up here slows every `dream new multiverse` (eleven nodes start at once on a few cores).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dream.node.runtime import MODULES_DUMP_ENV
from dream.testing.harness import DaemonProcess, wait_for

pytestmark = pytest.mark.e2e

# Never needed by a node to start: the CLI and its libraries, git (GitPython: monkey imports it on its
# first job, the git host on its first repository), the daemon and its project code, the config
# compiler's YAML, trio (httpcore's optional import), content ids (hoarder loads them on use).
NO_NODE = (
    "typer",
    "rich",
    "click",
    "pydantic",
    "git",
    "trio",
    "yaml",
    "psutil",
    "multiformats",
    "dream.cli",
    "dream.daemon",
    "dream.projects",
    "dream.builders",
)
# Only the node that runs them needs these.
ONLY = {"wasmtime": {"substrate"}, "dream.monkey": {"monkey"}, "uvloop": {"substrate", "gateway"}}


def loaded(modules: set[str], package: str) -> list[str]:
    return sorted(m for m in modules if m == package or m.startswith(package + "."))


def test_nodes_start_without_what_they_do_not_need(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dumps = tmp_path / "modules"
    dumps.mkdir()
    monkeypatch.setenv(MODULES_DUMP_ENV, str(dumps))
    daemon = DaemonProcess(tmp_path / "home")
    try:
        daemon.start()
        client = daemon.client()
        client.new_universe("lean")
        names = {node["name"].split("@", 1)[0] for node in client.nodes("lean")}
        assert {"monkey", "substrate", "hoarder", "git", "tns"} <= names, names
        files = {name: dumps / f"lean-{name}.txt" for name in names}
        wait_for(lambda: all(f.exists() for f in files.values()), timeout=60, what="every node's module list")
        problems = []
        for name, path in sorted(files.items()):
            modules = set(path.read_text().split())
            assert "dream.node.runtime" in modules, f"{path} is not a module list"
            for package in NO_NODE:
                if found := loaded(modules, package):
                    problems.append(f"{name} imported {package} at start-up: {found[:5]}")
            for package, allowed in ONLY.items():
                if name not in allowed and (found := loaded(modules, package)):
                    problems.append(
                        f"{name} imported {package}, which only {sorted(allowed)} need: {found[:5]}"
                    )
        assert not problems, "\n".join(problems)
    finally:
        daemon.stop()
