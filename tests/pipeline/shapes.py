"""The universe a push needs (the git host, auth, patrick, monkey, tns, hoarder, a substrate), as the
pipeline's and the console's tests start it."""

from __future__ import annotations

from typing import Any


def push_shape(*, copies: int = 1, gateway: bool = False) -> dict[str, Any]:
    """`copies` monkeys and hoarders (patrick hands each job to one; hoarders share what is stashed), and a
    gateway in front of the substrate when asked."""
    many = {"Others": {"copies": copies}} if copies > 1 else {}
    services: dict[str, Any] = {"auth": {}, "patrick": {}, "tns": {}, "seer": {}, "substrate": {}}
    if gateway:
        services["gateway"] = {}
    services.update(monkey=dict(many), hoarder=dict(many))
    return {"Services": services, "Simples": {"git": {"Clients": {}}}}
