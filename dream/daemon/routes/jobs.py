"""Build jobs: the list (newest first) and a job's log read from a byte offset, also while it runs
(what `dream jobs` and the dashboard's build view follow)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from dream.daemon.console import views
from dream.daemon.console.job_log import read_job_log
from dream.daemon.inputs import query_offset
from dream.daemon.routes.context import api, universe_of


async def jobs(request: Request) -> Any:
    return {"jobs": await views.jobs(universe_of(request))}


async def job_log(request: Request) -> Any:
    universe = universe_of(request)
    return await read_job_log(universe, request.path_params["job"], query_offset(request))


def routes() -> list[Route]:
    return [
        Route("/jobs/{universe}", api(jobs)),
        Route("/jobs/{universe}/{job}/log", api(job_log)),
    ]
