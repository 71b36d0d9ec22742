"""The CLI reference in docs/ is generated from the typer app and must match it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dream.cli.fixture_spec import cache_path, write_cache
from dream.daemon.actions import specs
from dream.daemon.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_cli_reference_is_up_to_date(tmp_path: Path) -> None:
    # The `dream inject` fixtures come from the daemon: here, from its spec kept in a home of our own.
    home = tmp_path / "home"
    write_cache(cache_path(home), specs())
    env = {**os.environ, "DREAM_HOME": str(home), "DREAM_PORT": str(free_port())}
    out = tmp_path / "cli.md"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "typer",
            "dream.cli.main",
            "utils",
            "docs",
            "--name",
            "dream",
            "--title",
            "dream CLI reference",
            "--output",
            str(out),
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    assert out.read_text() == (ROOT / "docs" / "cli.md").read_text(), "docs/cli.md is stale: run scripts/docs"
