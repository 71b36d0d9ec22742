"""The fixtures `dream inject` offers, as the daemon describes them (`GET /spec/fixtures/details`).

The CLI knows no fixture itself: it asks the running daemon, and keeps the answer in the dream home
(`fixture-spec.json`) so that help and option parsing still work while the daemon is stopped. With no
daemon and nothing kept yet, a fixture command says the daemon is not running and how to start it.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from dream.cli.common import client
from dream.errors import DaemonNotRunning
from dream.spec import FixtureSpec

CACHE_FILE = "fixture-spec.json"

_known: list[FixtureSpec] | None = None


def cache_path(home: Path) -> Path:
    return home / CACHE_FILE


def fixture_specs() -> list[FixtureSpec]:
    """The daemon's fixtures (fetched once per command, kept for later); when the daemon is not running,
    the ones kept from the last fetch, or the daemon's "not running" error if none were."""
    specs, not_running = _lookup()
    if specs is None:
        raise DaemonNotRunning(not_running)
    return specs


def known_fixture_specs() -> list[FixtureSpec] | None:
    """As `fixture_specs`, but None instead of the error (for help, which lists what it can)."""
    return _lookup()[0]


def _lookup() -> tuple[list[FixtureSpec] | None, str]:
    global _known
    with client() as api:
        if _known is not None:
            return _known, ""
        kept = cache_path(api.home)
        try:
            if not api.listening():  # cheap: no HTTP library loaded for a stopped daemon
                raise DaemonNotRunning(api.not_running())
            _known = api.fixture_specs()
        except DaemonNotRunning as exc:
            return read_cache(kept), str(exc)
    write_cache(kept, _known)
    return _known, ""


def read_cache(path: Path) -> list[FixtureSpec] | None:
    """The kept spec, or None when there is none or it is not one (a broken file is only a cache)."""
    try:
        data: Any = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, list) or not all(_is_spec(item) for item in data):
        return None
    return data


def write_cache(path: Path, specs: list[FixtureSpec]) -> None:
    # Best effort, and atomic: a read-only home only costs the offline help, and a reader never sees half.
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(json.dumps(specs, indent=1) + "\n")
        temporary.replace(path)


def _is_spec(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and all(isinstance(item.get(key), str) for key in ("name", "cli_name", "description"))
        and isinstance(item.get("internal"), bool)
        and isinstance(item.get("variables"), list)
        and all(
            isinstance(v, dict)
            and all(isinstance(v.get(key), str) for key in ("name", "alias", "description"))
            and isinstance(v.get("required"), bool)
            for v in item["variables"]
        )
    )
