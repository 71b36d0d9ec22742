"""Faults a node injects into its own ports on request: latency, or failed answers, for a while.

The daemon sets them through the node's p2p API (`POST /chaos/fault`, `dream chaos delay|fail`); each
ends by itself when its time is up. While none is set a request pays one dictionary lookup; the
public port's fast path (`dream.http.server`'s synchronous handler) is switched off only while a fault is
set on it, so every request then goes through the gate.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

PORTS = ("http", "p2p")
CHAOS_PREFIX = "/chaos"  # the routes that set and clear faults never get one themselves
MAX_FAULT_SECONDS = 3600.0  # how long one fault may last
MAX_DELAY_SECONDS = 60.0  # the most latency a fault may add to a request
FAIL_STATUS = 503


@dataclass
class Fault:
    """What one port does to its requests until `until` (time.monotonic())."""

    port: str
    until: float
    delay: float = 0.0
    rate: float = 0.0
    status: int = FAIL_STATUS

    def view(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "delay": self.delay,
            "rate": self.rate,
            "status": self.status,
            "remaining": round(max(0.0, self.until - time.monotonic()), 3),
        }


class FaultError(ValueError):
    """A fault that cannot be set, with the sentence saying why."""


def check_fault(port: str, *, delay: float, rate: float, seconds: float, status: int) -> None:
    if port not in (*PORTS, "all"):
        raise FaultError(f"port `{port}` is not one of: http, p2p, all")
    if not 0 < seconds <= MAX_FAULT_SECONDS:
        raise FaultError(f"a fault lasts more than 0s and at most {MAX_FAULT_SECONDS:g}s, not {seconds:g}s")
    if not 0 <= delay <= MAX_DELAY_SECONDS:
        raise FaultError(f"a delay is between 0s and {MAX_DELAY_SECONDS:g}s, not {delay:g}s")
    if not 0 <= rate <= 1:
        raise FaultError(f"a failure rate is between 0 and 1 (0.1 fails one request in ten), not {rate:g}")
    if not 500 <= status <= 599:
        raise FaultError(f"an injected failure answers a 5xx status, not {status}")
    if delay == 0 and rate == 0:
        raise FaultError("a fault needs a delay above 0s or a failure rate above 0")


class Faults:
    """The faults set on one node's ports; `changed(port, active)` is told when a port's fault starts
    or ends (the node turns its fast path off and on)."""

    def __init__(self, label: str, changed: Callable[[str, bool], None] = lambda port, active: None) -> None:
        self.label = label
        self.by_port: dict[str, Fault] = {}
        self.changed = changed
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def active(self, port: str) -> Fault | None:
        fault = self.by_port.get(port)
        if fault is None:
            return None
        if time.monotonic() >= fault.until:
            self.clear(port)
            return None
        return fault

    def set(
        self, port: str, *, delay: float, rate: float, seconds: float, status: int = FAIL_STATUS
    ) -> list[Fault]:
        """Set (or replace) the fault of `port` (`all`: both); it ends after `seconds`."""
        check_fault(port, delay=delay, rate=rate, seconds=seconds, status=status)
        made = []
        loop = asyncio.get_running_loop()
        for each in PORTS if port == "all" else (port,):
            self.clear(each)
            fault = self.by_port[each] = Fault(each, time.monotonic() + seconds, delay, rate, status)
            self._timers[each] = loop.call_later(seconds, self.clear, each)
            self.changed(each, True)
            made.append(fault)
        return made

    def clear(self, port: str = "all") -> None:
        for each in PORTS if port == "all" else (port,):
            timer = self._timers.pop(each, None)
            if timer is not None:
                timer.cancel()
            if self.by_port.pop(each, None) is not None:
                self.changed(each, False)

    def views(self) -> list[dict[str, Any]]:
        return [fault.view() for port in PORTS if (fault := self.active(port)) is not None]


class FaultGate:
    """ASGI middleware in front of one port's app: applies that port's fault, if any, to each request."""

    def __init__(self, app: ASGIApp, faults: Faults, port: str) -> None:
        self.app = app
        self.faults = faults
        self.port = port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fault = self.faults.active(self.port) if scope["type"] == "http" else None
        if fault is None or str(scope.get("path", "")).startswith(CHAOS_PREFIX):
            await self.app(scope, receive, send)
            return
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.rate and random.random() < fault.rate:
            body = json.dumps(
                {
                    "code": fault.status,
                    "error": f"dream chaos: injected failure on the {self.port} port of {self.faults.label} "
                    f"(rate {fault.rate:g}); `dream chaos clear` ends it",
                }
            ).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": fault.status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def routes(faults: Faults) -> list[BaseRoute]:
    """`/chaos/fault` on a node's p2p API: GET lists, POST sets, DELETE clears (`?port=`)."""

    async def fault(request: Request) -> JSONResponse:
        if request.method == "POST":
            try:
                data = await request.json()
                made = faults.set(
                    str(data.get("port") or "http"),
                    delay=float(data.get("delay") or 0),
                    rate=float(data.get("rate") or 0),
                    seconds=float(data.get("seconds") or 0),
                    status=int(data.get("status") or FAIL_STATUS),
                )
            except (ValueError, TypeError, AttributeError) as exc:
                return JSONResponse({"code": 400, "error": str(exc)}, status_code=400)
            return JSONResponse({"faults": [f.view() for f in made]})
        if request.method == "DELETE":
            port = request.query_params.get("port") or "all"
            if port not in (*PORTS, "all"):
                return JSONResponse(
                    {"code": 400, "error": f"port `{port}` is not one of: http, p2p, all"}, 400
                )
            faults.clear(port)
        return JSONResponse({"faults": faults.views()})

    return [Route(f"{CHAOS_PREFIX}/fault", fault, methods=["GET", "POST", "DELETE"])]
