"""Where dream listens and keeps its state; every value can be overridden from the environment."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 1421
DEFAULT_UNIVERSE = "blackhole"
DEFAULT_BRANCH = "main"
# Upstream names its local network suffix after the universe: <universe>.localtau
NETWORK_SUFFIX = "localtau"

PORT_ENV = "DREAM_PORT"
HOME_ENV = "DREAM_HOME"
CACHE_ENV = "DREAM_CACHE"


def daemon_port() -> int:
    value = os.environ.get(PORT_ENV, "")
    if not value:
        return DEFAULT_PORT
    try:
        port = int(value)
    except ValueError:
        raise SystemExit(f"{PORT_ENV}={value!r} is not a port number; set it to e.g. 1421") from None
    return port


def daemon_url(port: int | None = None) -> str:
    return f"http://{DEFAULT_HOST}:{port or daemon_port()}"


def dream_home() -> Path:
    """State directory: kept universes, daemon pid files, caches."""
    value = os.environ.get(HOME_ENV)
    return Path(value) if value else Path.home() / ".cache" / "dream"


def cache_home() -> Path:
    """Per-machine caches and tools (toolchain caches, build cache, AOT-compiled modules).

    Unlike DREAM_HOME (state of daemons and universes), these are keyed by content and shared by every
    daemon on the machine, so a toolchain's first-use cost is paid once per machine. DREAM_CACHE overrides.
    """
    value = os.environ.get(CACHE_ENV)
    return Path(value) if value else Path.home() / ".cache" / "dream"


def repo_root() -> Path:
    """The checkout dream runs from (holds `universes/` and `fixtures/`)."""
    return Path(__file__).resolve().parent.parent
