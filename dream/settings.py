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

# The default universe's gateway listens on these ports when they are free, so a browser's bookmarks
# (`http://<fqdn>.localhost:14480/`) work across runs. Outside the kernel's ephemeral range (32768+), so
# no node of any universe is handed them by chance. DREAM_GATEWAY_PORTS=<http>,<https> moves them;
# DREAM_GATEWAY_PORTS=off leaves the gateway's ports to the kernel (the test suite does).
GATEWAY_HTTP_PORT = 14480
GATEWAY_HTTPS_PORT = 14443
GATEWAY_PORTS_ENV = "DREAM_GATEWAY_PORTS"


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


def gateway_ports() -> dict[str, int]:
    """The fixed ports of the default universe's gateway by protocol ({} when turned off)."""
    value = os.environ.get(GATEWAY_PORTS_ENV, "").strip()
    if not value:
        return {"http": GATEWAY_HTTP_PORT, "https": GATEWAY_HTTPS_PORT}
    if value.lower() == "off":
        return {}
    try:
        http, https = (int(part) for part in value.split(","))
    except ValueError:
        raise SystemExit(
            f"{GATEWAY_PORTS_ENV}={value!r} is not `<http port>,<https port>` or `off`; "
            f"set it to e.g. {GATEWAY_HTTP_PORT},{GATEWAY_HTTPS_PORT}"
        ) from None
    return {"http": http, "https": https}
