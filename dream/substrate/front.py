"""The substrate's public HTTP port: a request for Host + path + method runs its function or serves its
website.

Three ways in, fastest first:
- `fast_http`, called by the HTTP server's parser: a (host, method, path) that already ran a function
  which runs inline is answered right there, with no ASGI task;
- `asgi`: a (host, method, path) that already ran a function goes straight to it (on a worker thread if
  it does not run inline);
- `serve`, routed by starlette: first requests, websites and errors; a function it finds is remembered
  for the two ways above until tns changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from dream.errors import DreamError
from dream.http.hosts import routed_host
from dream.http.message import Answer
from dream.http.message import Request as HttpServerRequest
from dream.http.records import (
    TEXT_BYTES,
    RequestRing,
    SlotRing,
    SlotsFactory,
    make_ring,
    make_slot_ring,
    records_answer,
    via_of,
)
from dream.node.runtime import NOT_ROUTED
from dream.substrate.events import (
    event_from_scope,
    event_of,
    failed,
    host_header,
    normal_host,
    stop_when_gone,
)
from dream.substrate.resolver import Resolver
from dream.substrate.routing import domain_allowed
from dream.substrate.runner import ReadyFunction, Runner
from dream.substrate.website import Websites
from dream.wasm.errors import WasmCancelled, WasmError, WasmLoadError
from dream.wasm.interrupt import CallControl
from dream.wasm.native import record_ring
from dream.wasm.types import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from dream.wasm.callpath import Serve, Served

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# The request inspector's record of a function call (`dream.http.records`); times in ns, bytes of body.
RECORD_FIELDS = (
    "seq",
    "time",
    "method",
    "host",
    "path",
    "status",
    "total_ns",
    "instantiate_ns",
    "wasm_ns",
    "pages",
    "host_calls",
    "bytes_in",
    "bytes_out",
    "function",
    "project",
    "via",
)
_clock = time.perf_counter_ns


class Front:
    def __init__(
        self, resolver: Resolver, runner: Runner, websites: Websites, universe: str, log: logging.Logger
    ) -> None:
        self.resolver = resolver
        self.ready = resolver.ready  # the resolver clears it when tns changes
        self.runner = runner
        self.websites = websites
        self.universe = universe
        self.log = log
        self.served = 0
        self.ring: RequestRing | SlotRing | None = None
        self.keep_records(native=record_ring())
        self.node = ""  # this substrate's node id, named in its records' answers
        self.routed = Starlette(
            routes=[Route("/{path:path}", self.serve, methods=METHODS)], exception_handlers=NOT_ROUTED
        )

    def keep_records(self, *, native: SlotsFactory | None = None) -> None:
        """Make this substrate's ring (None when DREAM_INSPECT=0) and bind its record functions: with
        the native extension's `Ring` (`native`), fixed-size records written in C with no Python object
        made per request (`Ring.served`, `Ring.record`), and `count_sink` the ring, where a call answered
        in one C call leaves its counts (`hostcall.count_calls`); else `_record`/`_record_served` in
        Python."""
        self.count_sink: object | None = None
        if native is not None:
            self.ring = make_slot_ring(RECORD_FIELDS, native)
            if self.ring is not None:
                self._record = self.ring.slots.record  # type: ignore[method-assign,assignment]
                self._record_served = self.ring.slots.served  # type: ignore[method-assign,assignment]
                # A call answered in one C call leaves its host-call counts in the ring, not in a dict.
                self.count_sink = self.ring.slots
        else:
            self.ring = make_ring(RECORD_FIELDS, TEXT_BYTES)

    def _ready_for(
        self, headers: list[tuple[bytes, bytes]], method: str, path: str
    ) -> tuple[bytes, ReadyFunction | None]:
        """(the raw Host header, the function this (host, method, path) already ran, if any)."""
        raw_host = host_header(headers)
        return raw_host, self.ready.get((normal_host(raw_host), method, path))

    def fast_http(self, request: HttpServerRequest) -> Answer | None:
        """A request for a (host, method, path) that already ran a function that runs inline: answered
        right here, from the HTTP parser's callback."""
        raw_host, ready = self._ready_for(request.headers, request.method, request.path)
        if ready is None or not ready.inline:
            return None
        if ready.serve is not None:
            return self._served(ready, request, raw_host, ready.serve)
        began = _clock()
        event = _event(request, raw_host)
        try:
            result = self.runner.run_inline(ready, event)
        except WasmError as exc:
            answer = failed(exc)
            if self.ring is not None:
                self._record(ready, event, answer[0], None, began)
            return answer
        if result is None:  # it has just moved to a worker thread: the ASGI path runs it there
            return None
        if self.ring is not None:
            self._record(ready, event, result.status, result, began)
        return self._answer(result)

    def _served(
        self, ready: ReadyFunction, request: HttpServerRequest, raw_host: bytes, serve: Serve
    ) -> Answer | None:
        """`fast_http` for a function whose HTTP calls take one C call: the guest reads the method, host
        and path as `event_of` hands them (the host as received, UTF-8 when it is not ASCII) and the
        answer comes back as the HTTP server writes it; the inspector's record is the same."""
        began = _clock()
        host = raw_host if raw_host.isascii() else raw_host.decode("latin-1").encode()
        try:
            served = self.runner.serve_inline(
                ready, serve, request.method.encode(), host, request.path.encode()
            )
        except WasmError as exc:
            answer = failed(exc)
            if self.ring is not None:
                self._record(ready, _event(request, raw_host), answer[0], None, began)
            return answer
        if served is None:  # it has just moved to a worker thread: the ASGI path runs it there
            return None
        out, counts = served
        if self.ring is not None:
            # From what is at hand: no HttpRequest or HttpResponse is made for the record.
            self._record_served(ready, request, raw_host, out, counts, began)
        self.served += 1
        return out[0], out[1], out[2]

    def _record(
        self, ready: ReadyFunction, request: HttpRequest, status: int, result: HttpResponse | None, began: int
    ) -> None:
        """Keep the inspector's record of a call (a tuple of RECORD_FIELDS; `time` is the clock's ns,
        made a wall-clock time when read). The compiled extension's `Ring.record` does the same in C and
        replaces this when it is built (`keep_records`)."""
        ring = self.ring
        assert isinstance(ring, RequestRing)
        headers = request.raw_headers
        ring.seq = seq = ring.seq + 1
        now = _clock()
        if result is None:
            record: tuple[object, ...] = (seq, now, request.method, request.host, request.path, status,
                now - began, 0, 0, 0, None, len(request.body), 0, ready.name, ready.project,
                via_of(headers))  # fmt: skip
        else:
            record = (seq, now, request.method, request.host, request.path, status, now - began,
                result.instantiate_ns, result.wasm_ns, result.pages, result.host_calls, len(request.body),
                len(result.body), ready.name, ready.project,
                via_of(headers))  # fmt: skip
        ring.records.append(record)

    def _record_served(
        self,
        ready: ReadyFunction,
        request: HttpServerRequest,
        raw_host: bytes,
        served: Served,
        counts: dict[str, int] | None,
        began: int,
    ) -> None:
        """`_record` of a call `serve` answered (`_served`), from the parsed request, the raw Host header
        and serve()'s result: the same record, with no HttpRequest or HttpResponse made for it. The
        compiled extension's `Ring.served` does the same in C and replaces this when it is built."""
        ring = self.ring
        assert isinstance(ring, RequestRing)
        ring.seq = seq = ring.seq + 1
        now = _clock()
        ring.records.append((seq, now, request.method, raw_host.decode("latin-1"), request.path, served[0],
            now - began, served[3], served[4], served[5], counts, len(request.body), len(served[2]),
            ready.name, ready.project, via_of(request.headers)))  # fmt: skip

    async def asgi(self, scope: Any, receive: Any, send: Any) -> None:
        """The http port past `fast_http`. A request for a (host, method, path) that already ran a
        function goes straight to it; everything else (first requests, websites, errors) is routed by
        starlette."""
        if scope["type"] == "http":
            raw_host, ready = self._ready_for(scope["headers"], scope["method"], scope["path"])
            if ready is not None:
                event = await event_from_scope(scope, receive, raw_host)
                if event is None:  # the client went away before its body was complete
                    return
                status, headers, body = await self._call(ready, event, receive)
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.routed(scope, receive, send)

    async def serve(self, request: Request) -> Response:
        raw_host = host_header(request.scope["headers"])
        host = normal_host(raw_host)
        method = request.method
        path = request.scope["path"]  # already percent-decoded by the server
        url = f"http://{host}{request.url.path}"
        generation = self.resolver.generation
        if not host:
            return PlainTextResponse(
                "no Host header: name the domain you ask for, e.g. curl -H 'Host: <fqdn>' ...",
                status_code=400,
            )
        try:
            table = await self.resolver.table(host)
        except ValueError as exc:
            return PlainTextResponse(f"bad Host header: {exc}", status_code=400)
        except DreamError as exc:
            return PlainTextResponse(f"cannot resolve {host}: {exc}", status_code=503)
        function, allowed = table.function(method, path)
        if function is not None:
            if not domain_allowed(host, function.project, self.universe):
                return PlainTextResponse(
                    f"domain {host} does not belong to project {function.project}", status_code=403
                )
            try:
                ready = await self.resolver.function(function)
            except WasmLoadError as exc:
                return PlainTextResponse(f"function {function.name} cannot load: {exc}", status_code=500)
            except DreamError as exc:
                return PlainTextResponse(str(exc), status_code=503)
            if generation == self.resolver.generation:
                self.ready[(host, method, path)] = ready
            event = await event_from_scope(request.scope, request.receive, raw_host)
            if event is None:  # the client went away before its body was complete
                return Response(status_code=400)
            status, headers, body = await self._call(ready, event, request.receive)
            response = Response(body, status_code=status)
            response.raw_headers = headers
            return response
        site = table.website(method, path)
        if site is not None:
            return await self.websites.serve(site[0], site[1], path)
        if allowed:
            return PlainTextResponse(
                f"method {method} not allowed on {url} (allowed: {', '.join(allowed)})",
                status_code=405,
                headers={"allow": ", ".join(allowed)},
            )
        return PlainTextResponse(f"no HTTP match found for method {method} on {url}", status_code=404)

    async def _call(self, ready: ReadyFunction, request: HttpRequest, receive: Any) -> Answer:
        """Run the function: (status, raw headers, body); failures become 5xx. A call on a worker
        thread is stopped when its client goes away (`receive` answers `http.disconnect`)."""
        began = _clock()
        try:
            result = self.runner.run_inline(ready, request)
            if result is None:
                control = CallControl(time.monotonic() + ready.timeout)
                gone = asyncio.ensure_future(stop_when_gone(receive, control))
                try:
                    result = await self.runner.run(ready, request, control)
                finally:
                    gone.cancel()
        except WasmCancelled as exc:
            self.log.info("%s", exc)
            answer = failed(exc)
            if self.ring is not None:
                self._record(ready, request, answer[0], None, began)
            return answer
        except WasmError as exc:
            answer = failed(exc)
            if self.ring is not None:
                self._record(ready, request, answer[0], None, began)
            return answer
        if self.ring is not None:
            self._record(ready, request, result.status, result, began)
        return self._answer(result)

    async def requests(self, request: Request) -> Response:
        """p2p `GET /substrate/requests?after=&limit=` → the inspector's records of this substrate."""
        return records_answer(self.ring, request.query_params, self.node)

    def _answer(self, result: HttpResponse) -> Answer:
        # No content-length: the HTTP server sets it (and drops framing headers a function adds).
        self.served += 1
        headers = [
            (key.encode("latin-1", "replace"), value.encode("latin-1", "replace"))
            for key, value in result.headers
        ]
        return result.status, headers, result.body

    async def match(self, request: Request) -> Response:
        """p2p `GET /substrate/match?host=&path=&method=` → {match, warm}: the gateway asks before
        choosing a substrate."""
        host = routed_host(request.query_params.get("host", ""))
        method = request.query_params.get("method", "GET")
        path = request.query_params.get("path", "/")
        try:
            table = await self.resolver.table(host)
        except (DreamError, ValueError):
            return JSONResponse({"match": False, "warm": False})
        function, _ = table.function(method, path)
        site = table.website(method, path)
        warm = function is not None and function.id in self.resolver.warm
        return JSONResponse({"match": function is not None or site is not None, "warm": warm})


def _event(request: HttpServerRequest, raw_host: bytes) -> HttpRequest:
    """The request as `fast_http` hands it to the guest (and to the inspector's record)."""
    return event_of(request.method, request.path, request.query, request.headers, request.body, raw_host)
