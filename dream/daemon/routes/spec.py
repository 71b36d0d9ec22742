"""What a universe is made of, for clients: services, clients, fixtures (names, as upstream), and each
fixture's variables (what the CLI builds its `dream inject <fixture>` commands from)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from dream.daemon.actions import FIXTURES, specs
from dream.daemon.routes.context import api
from dream.spec import CLIENTS, SERVICES


async def spec_services(request: Request) -> Any:
    return list(SERVICES)


async def spec_clients(request: Request) -> Any:
    return list(CLIENTS)


async def spec_fixtures(request: Request) -> Any:
    return sorted(FIXTURES)


async def spec_fixture_details(request: Request) -> Any:
    return specs()


def routes() -> list[Route]:
    return [
        Route("/spec/services", api(spec_services)),
        Route("/spec/clients", api(spec_clients)),
        Route("/spec/fixtures", api(spec_fixtures)),
        Route("/spec/fixtures/details", api(spec_fixture_details)),
    ]
