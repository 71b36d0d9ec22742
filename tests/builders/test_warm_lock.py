"""The shared compiler cache is warmed by one process at a time: monkeys (or test workers) that build the
same language for the first time at once must not break each other's archives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders.test_builders import require_toolchain

WARM = """
from dream.builders.shared_cache import ensure_warm
ensure_warm("rust", log=lambda line: None, timeout=300, cancel=None)
print("warm")
"""


@pytest.mark.language
def test_three_processes_warming_a_cold_cache_at_once_all_succeed(tmp_path: Path) -> None:
    require_toolchain("rust")
    env = {**os.environ, "DREAM_CACHE": str(tmp_path / "cold-cache")}
    env.pop("DREAM_TOOL_CACHE", None)  # the tool cache under the cold DREAM_CACHE
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", WARM], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err.decode()
        assert out.decode().strip() == "warm"
    assert [p.name for p in (tmp_path / "cold-cache" / "toolchains" / "warmed").glob("rust-*")]


def test_a_toolchain_in_another_place_is_warmed_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """zig keys its cache entries by its own lib dir: a cache warmed by a zig in one virtualenv holds
    nothing a zig in another finds, so each place gets its own warm marker."""
    from dream.builders import shared_cache
    from dream.builders.toolchains import Toolchain

    monkeypatch.setenv("DREAM_TOOL_CACHE", str(tmp_path))
    markers = []
    for place in ("one", "two", "one"):
        zig = Toolchain("zig", True, "0.0.1", tmp_path / place / "zig", "pip install ziglang")
        monkeypatch.setitem(shared_cache.FINDERS, "zig", lambda zig=zig: zig)
        markers.append(shared_cache._marker("c"))
    assert markers[0] != markers[1]
    assert markers[0] == markers[2]
