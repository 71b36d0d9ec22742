"""The getting-started guide's tested script runs as written, with a daemon of its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dream.testing.harness import DaemonProcess

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def scripts_in(path: Path) -> list[str]:
    text = path.read_text()
    return re.findall(r"<!-- tested -->\s*```bash\n(.*?)```", text, flags=re.S)


def test_getting_started_script_runs_as_written(tmp_path: Path, dream_cache: Path) -> None:
    (script,) = scripts_in(ROOT / "docs" / "getting-started.md")
    # Only for its port, home and environment; the session's build cache, not the machine's.
    daemon = DaemonProcess(tmp_path / "home", cache=dream_cache)
    env = {**daemon.env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    work = tmp_path / "work"
    work.mkdir()
    try:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "[SUCCESS] Universe blackhole started!" in result.stdout
        assert "push-all: 2 build(s) succeeded" in result.stdout
        # `dream project show`: a browser's URLs first (https, then http, at the .localhost name), then curl.
        assert re.search(
            r"ping_pong: GET (\S+)/ping\n\s+https://\1\.localhost:\d+/ping\n\s+http://\1\.localhost:\d+/ping\n"
            r"\s+curl -H",
            result.stdout,
        ), result.stdout[-3000:]
    finally:
        subprocess.run(
            [sys.executable, "-m", "dream", "kill", "multiverse"], env=env, capture_output=True, timeout=60
        )
