"""Where builders keep tools, toolchain caches and staged SDKs (never outside dream's own dirs)."""

from __future__ import annotations

import os
from pathlib import Path

from dream.settings import cache_home

TOOLS_ENV = "DREAM_TOOLS"
TOOL_CACHE_ENV = "DREAM_TOOL_CACHE"


def tools_dir() -> Path:
    """Tools dream installs itself (AssemblyScript via npm); `scripts/toolchains` uses the same default."""
    value = os.environ.get(TOOLS_ENV)
    return Path(value) if value else cache_home() / "tools"


def tool_cache_dir() -> Path:
    """Per-machine compiler caches (GOCACHE, zig cache, staged SDKs), shared by every build."""
    value = os.environ.get(TOOL_CACHE_ENV)
    return Path(value) if value else cache_home() / "toolchains"


def sdk_dir() -> Path:
    """Guest SDK sources shipped inside the dream package."""
    return Path(__file__).resolve().parent.parent / "sdk"


def package_parent() -> Path:
    """The directory holding the `dream` package, so step scripts can run `python -m dream...`."""
    return Path(__file__).resolve().parent.parent.parent
