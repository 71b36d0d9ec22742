"""The dashboard's pages, its event streams and the few actions only it needs (calling a function,
killing a node's process, signing in). Everything else its pages do goes through the API's own routes.

Pages answer with a Content-Security-Policy that allows only the daemon's own scripts and styles and no
framing, so another site can neither frame a page nor inject a script into it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from dream.clients.substrate import SubstrateClient
from dream.daemon.console import channels, pages, views
from dream.daemon.console.job_log import read_job_log
from dream.daemon.console.session import COOKIE, cookie_of
from dream.daemon.inputs import body, query_offset, text
from dream.daemon.routes.context import api, multiverse, peers_of, universe_of
from dream.daemon.routes.logs import find_node
from dream.daemon.universe import Universe
from dream.errors import DreamError

# How often the event stream looks for changes, and how long one stream lasts (the browser reconnects
# by itself: a stream never outlives a daemon that is shutting down by much).
EVENT_EVERY = 1.0
STREAM_FOR = 300.0
LOG_EVERY = 0.5
JOB_LOG_EVERY = 0.25  # a running build's log is looked at this often (its lines come as the builder prints)
TAIL_WAIT = 5.0  # seconds one look at a channel waits for a message (then the stream looks again)
STATIC = {"console.js": "text/javascript", "console.css": "text/css"}
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
}


def signed_in(request: Request) -> bool:
    expected: str = request.app.state.console_session
    return cookie_of(request.headers.get("cookie", "")) == expected


def _html(content: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(content, status_code=status, headers=SECURITY_HEADERS)


async def home(request: Request) -> Response:
    if "text/html" not in request.headers.get("accept", ""):
        return JSONResponse("pong")  # API clients (upstream's `GET /`); browsers get the dashboard
    return _html(pages.home(views.universes(multiverse(request)), signed_in=signed_in(request)))


async def universe_page(request: Request) -> Response:
    name = request.path_params["universe"]
    try:
        universe = multiverse(request).get(name)
    except DreamError as exc:
        return _html(pages.error_page(str(exc), 404, signed_in=signed_in(request)), 404)
    default_path = str(multiverse(request).home / "projects" / universe.name)
    return _html(pages.universe_page(universe.name, signed_in=signed_in(request), default_path=default_path))


async def login_page(request: Request) -> Response:
    body_html = """<section><h2>Signing in…</h2><p id="login-state">The address <code>dream console</code>
prints carries the daemon's token after a #: this page trades it for a session cookie.</p></section>"""
    return _html(pages.page("sign in · dream console", body_html, signed_in=signed_in(request)))


async def new_session(request: Request) -> Response:
    # The guard has checked the bearer token already: this request holds the daemon's token.
    response = JSONResponse({"signed_in": True})
    response.set_cookie(
        COOKIE, request.app.state.console_session, httponly=True, samesite="strict", path="/", secure=False
    )
    return response


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    kind = STATIC.get(name)
    if kind is None:
        return PlainTextResponse(f"no file {name} in the console's static files", status_code=404)
    data = resources.files("dream.daemon.console").joinpath("static", name).read_bytes()
    return Response(
        data, media_type=kind, headers={"cache-control": "no-cache", "x-content-type-options": "nosniff"}
    )


def _sse(event: str, data: str) -> str:
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {event}\n{lines}\n"


async def _sections(universe: Universe, tick: int, branch: str) -> dict[str, str]:
    found = {"nodes": pages.nodes_fragment(universe.name, views.nodes(universe))}
    try:
        found["requests"] = pages.requests_fragment(await views.requests(universe))
    except (DreamError, httpx.HTTPError) as exc:
        found["requests"] = f'<p class="error">{pages.h(exc)}</p>'
    if tick % 2 == 0:
        try:
            found["builds"] = pages.builds_fragment(universe.name, await views.jobs(universe))
        except (DreamError, httpx.HTTPError) as exc:
            found["builds"] = f'<p class="error">no builds to show: {pages.h(exc)}</p>'
    if tick % 3 == 0:
        try:
            found["projects"] = pages.projects_fragment(
                universe.name, await views.project_list(universe, branch)
            )
        except (DreamError, httpx.HTTPError) as exc:
            found["projects"] = f'<p class="error">no projects to show: {pages.h(exc)}</p>'
    return found


async def events(request: Request) -> Response:
    mv = multiverse(request)
    universe = universe_of(request)  # an unknown universe is a 400 before the stream starts
    branch = mv.branches[0]

    async def stream() -> AsyncIterator[str]:
        shown: dict[str, str] = {}
        end = time.monotonic() + STREAM_FOR
        tick = 0
        yield "retry: 1000\n\n"
        while time.monotonic() < end and not await request.is_disconnected():
            current = mv.universes.get(universe.name)
            if current is None:
                yield _sse("gone", f"universe {universe.name} has been stopped")
                return
            for section, html in (await _sections(current, tick, branch)).items():
                if shown.get(section) != html:
                    shown[section] = html
                    yield _sse(section, html)
            tick += 1
            await asyncio.sleep(EVENT_EVERY)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-store"})


async def log_events(request: Request) -> Response:
    universe = universe_of(request)
    record = find_node(universe, request.path_params["node"])
    path = record.config.log_path

    async def stream() -> AsyncIterator[str]:
        offset = 0
        end = time.monotonic() + STREAM_FOR
        yield "retry: 1000\n\n"
        while time.monotonic() < end and not await request.is_disconnected():
            try:
                with open(path, "rb") as fh:
                    size = os.fstat(fh.fileno()).st_size
                    if size < offset:
                        offset = 0  # a new log
                    fh.seek(offset)
                    data = fh.read(1 << 20)
            except FileNotFoundError:
                data = b""
            if data:
                offset += len(data)
                yield _sse("log", json.dumps({"offset": offset, "text": data.decode(errors="replace")}))
            await asyncio.sleep(LOG_EVERY)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-store"})


def _resumed_offset(request: Request) -> int:
    """Where a job log stream starts: the offset of the last event the browser got, when it reconnects
    (each event's id is the offset after it), else `?offset=`."""
    last = request.headers.get("last-event-id", "")
    return int(last) if last.isdigit() else query_offset(request)


async def job_log_events(request: Request) -> Response:
    """A job's log as it is written: `log` events ({offset, text}) then one `end` ({status, error}) once
    the job has ended and its last line was sent."""
    universe = universe_of(request)
    job = request.path_params["job"]
    first = await read_job_log(universe, job, _resumed_offset(request))  # a bad job id is a 400 here

    async def stream() -> AsyncIterator[str]:
        answer = first
        end = time.monotonic() + STREAM_FOR
        yield "retry: 1000\n\n"
        async with peers_of(universe) as peers:  # one client for the stream's reads
            while True:
                if answer["text"]:
                    chunk = json.dumps({"offset": answer["offset"], "text": answer["text"]})
                    yield f"id: {answer['offset']}\n" + _sse("log", chunk)
                if answer["done"]:
                    yield _sse("end", json.dumps({"status": answer["status"], "error": answer["error"]}))
                    return
                if time.monotonic() > end or await request.is_disconnected():
                    return
                await asyncio.sleep(JOB_LOG_EVERY)
                try:
                    answer = await read_job_log(universe, job, answer["offset"], peers=peers)
                except (DreamError, httpx.HTTPError, OSError) as exc:
                    yield _sse("failure", f"the log of job {job} cannot be read any more: {exc}")
                    return

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-store"})


async def project_channels(request: Request) -> Any:
    universe = universe_of(request)
    branch = multiverse(request).branches[0]
    return await channels.channels(universe, request.path_params["project"], branch)


def _tail_start(request: Request) -> tuple[int, str]:
    """(seq, substrate) to tail from: the last event's id (`<seq> <peer>`) when the browser reconnects,
    else 0: the messages the substrate still keeps come first."""
    seq, _, peer = request.headers.get("last-event-id", "").partition(" ")
    return (int(seq), peer) if seq.isdigit() else (0, "")


async def channel_events(request: Request) -> Response:
    """A channel's messages as they come (`message` events: {seq, channel, project, source, at, size,
    text}); `project` and `channel` narrow them (empty: every project, every channel)."""
    universe = universe_of(request)
    channel = request.query_params.get("channel", "")
    async with peers_of(universe) as peers:
        project = await channels.project_id_of(peers, request.query_params.get("project", ""))
    after, peer = _tail_start(request)

    async def stream() -> AsyncIterator[str]:
        nonlocal after, peer
        end = time.monotonic() + STREAM_FOR
        yield "retry: 1000\n\n"
        async with peers_of(universe) as peers:
            while time.monotonic() < end and not await request.is_disconnected():
                try:
                    found = await SubstrateClient(peers).tail(channel, project, after, TAIL_WAIT, peer)
                except (DreamError, httpx.HTTPError) as exc:
                    yield _sse("failure", f"channel `{channel}` cannot be followed: {exc}")
                    return
                after, peer = found["seq"], found["peer"]
                for message in found["messages"]:
                    view = channels.message_view(dict(message))
                    yield f"id: {view['seq']} {peer}\n" + _sse("message", json.dumps(view))

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-store"})


async def job_log(request: Request) -> Any:
    universe = universe_of(request)
    return PlainTextResponse(await views.job_log(universe, request.path_params["job"]))


async def call(request: Request) -> Any:
    """The "call it" form: one request to a function, through the gateway or a substrate."""
    universe = universe_of(request)
    data = await body(request)
    return await views.call_function(
        universe,
        via=text(data, "via", default="gateway") or "gateway",
        method=text(data, "method", default="GET") or "GET",
        host=text(
            data, "host", required="a call needs the function's `host` (its domain, e.g. abc0.u.localtau)"
        )
        or "",
        path=text(data, "path", default="/") or "/",
        headers=views.header_lines(data.get("headers")),
        body=(text(data, "body", default="") or "").encode(),
    )


async def job_action(request: Request) -> Any:
    """Cancel or retry a build job."""
    universe = universe_of(request)
    return await views.job_action(universe, request.path_params["job"], request.path_params["action"])


async def kill(request: Request) -> Any:
    """Kill a node's process (SIGKILL), as a crash would: the daemon's supervision brings it back."""
    universe = universe_of(request)
    wanted = request.path_params["node"]
    record = universe.nodes.get(wanted)
    if record is None:
        names = ", ".join(sorted(universe.nodes))
        raise DreamError(f"no node `{wanted}` in universe `{universe.name}` (node ids: {names})")
    pid = record.pid
    if pid is None or not record.alive:
        raise DreamError(
            f"node `{record.config.label}` has no running process to kill (state {record.state})"
        )
    os.kill(pid, signal.SIGKILL)
    return {"killed": record.config.id, "name": record.config.label, "pid": pid}


def routes() -> list[Route]:
    return [
        Route("/", home),
        Route("/console/u/{universe}", universe_page),
        Route("/console/login", login_page),
        Route("/console/session", new_session, methods=["POST"]),
        Route("/console/static/{name}", static),
        Route("/console/events/{universe}", api(events)),
        Route("/console/logs/{universe}/{node}", api(log_events)),
        Route("/console/job-log/{universe}/{job}", api(job_log)),
        Route("/console/job-log-events/{universe}/{job}", api(job_log_events)),
        Route("/console/call/{universe}", api(call), methods=["POST"]),
        Route("/console/channels/{universe}/{project}", api(project_channels)),
        Route("/console/tail/{universe}", api(channel_events)),
        Route("/console/kill/{universe}/{node}", api(kill), methods=["POST"]),
        Route("/console/job/{universe}/{job}/{action}", api(job_action), methods=["POST"]),
    ]
