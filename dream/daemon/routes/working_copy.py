"""A project's working copies changed: redo just what changed, with no commit (`dream watch`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from dream import projects
from dream.clients.auth import AuthClient
from dream.daemon import working_copy
from dream.daemon.inputs import body, text
from dream.daemon.routes.context import api, multiverse, universe_of
from dream.errors import DreamError

MAX_CHANGED = 10_000  # files in one change; an editor's save is a handful, a checkout a few thousand


async def change(request: Request) -> Any:
    universe = universe_of(request)
    data = await body(request)
    changed = data.get("changed")
    if not isinstance(changed, list) or not changed or not all(isinstance(p, str) for p in changed):
        raise DreamError(
            "`changed` must be a non-empty JSON list of the absolute paths of the files that changed"
        )
    if len(changed) > MAX_CHANGED:
        raise DreamError(
            f"{len(changed)} changed files in one change is more than {MAX_CHANGED}; push the project instead"
        )
    wanted = request.path_params["name"]
    state_dir = universe.root / "projects"
    client = universe.peer_client()
    try:
        found = [p for p in await AuthClient(client).projects() if wanted in (p["name"], p["id"])]
        if not found:
            raise DreamError(
                f"no project `{wanted}` in universe `{universe.name}`: create it or push it first"
            )
        project = found[0]
        try:
            record: dict[str, Any] | None = projects.remembered(state_dir, project["name"])
        except DreamError:  # not made by `dream new project` here: the caller says where it is
            record = None
        root = working_copy.project_root(text(data, "path", default="") or "", record)
        request.state.paths = [root]
        paths = [Path(p) for p in changed]
        outside = [str(p) for p in paths if not p.is_absolute() or not p.is_relative_to(root)]
        if outside:
            raise DreamError(f"changed files must be absolute paths inside {root}: {', '.join(outside[:5])}")
        branch = text(data, "branch", default="") or multiverse(request).branches[0]
        async with working_copy.lock_for(universe.name, project["id"]):
            outcome = await working_copy.deploy_change(
                client,
                universe=universe.name,
                project_id=project["id"],
                root=root,
                changed=paths,
                branch=branch,
            )
    finally:
        await client.close()
    return outcome.as_json()


def routes() -> list[Route]:
    return [Route("/project/{universe}/{name}/working-copy", api(change), methods=["POST"])]
