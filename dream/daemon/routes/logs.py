"""A node's log, read from an offset (what `dream logs` follows)."""

from __future__ import annotations

import os
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from dream.daemon.inputs import query_offset
from dream.daemon.routes.context import api, universe_of
from dream.daemon.universe import NodeRecord, Universe
from dream.errors import DreamError

# Most a single answer carries; the client asks again from the returned offset.
CHUNK = 1 << 20


async def logs(request: Request) -> Any:
    universe = universe_of(request)
    record = find_node(universe, request.path_params["node"])
    offset = query_offset(request)
    try:
        with open(record.config.log_path, "rb") as fh:
            # Past the end there is nothing to read (and a filesystem may refuse so far a seek).
            data = b""
            if offset < os.fstat(fh.fileno()).st_size:
                fh.seek(offset)
                data = fh.read(CHUNK)
    except FileNotFoundError:
        data = b""
    return {
        "node": record.config.label,
        "id": record.config.id,
        "path": str(record.config.log_path),
        "offset": offset + len(data),
        "text": data.decode(errors="replace"),
    }


def find_node(universe: Universe, wanted: str) -> NodeRecord:
    """A node by id, `name`, `name-<index>` or `name@universe`."""
    wanted = wanted.split("@", 1)[0]
    for record in universe.nodes.values():
        if wanted in (record.config.id, record.config.dirname):
            return record
    matches = sorted(
        (r for r in universe.nodes.values() if r.config.name == wanted), key=lambda r: r.config.index
    )
    if matches:
        return matches[0]
    names = ", ".join(sorted({r.config.name for r in universe.nodes.values()}))
    raise DreamError(f"no node `{wanted}` in universe `{universe.name}` (nodes: {names})")


def routes() -> list[Route]:
    return [Route("/logs/{universe}/{node}", api(logs))]
