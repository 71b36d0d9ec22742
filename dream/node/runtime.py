"""The node runtime: one process, a signed p2p API, an optional public HTTP port, and a heartbeat.

A service subclasses `Node`, adds its routes and its start/stop work; everything else (sockets, proof of
membership, the peer registry, SQLite state, logging, exiting when the daemon is gone) lives here once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dream.http.answers import answer
from dream.node import beat, chaos
from dream.node.config import NodeConfig
from dream.node.peers import HEARTBEAT_SECONDS, PeerClient, PeerInfo, PeerStore
from dream.node.security import UniverseGuard
from dream.node.validate import STORE_KEY
from dream.process.identity import process_start

DAEMON_CHECK_SECONDS = 0.5
# How often a node's uvicorn server wakes at rest (uvicorn's own loop: ten times a second).
REST_TICK_SECONDS = 1.0
# Test-only: a directory where each node, once ready, writes the modules it has imported (one name a line,
# in `<universe>-<node>.txt`), so a test can check that start-up loads nothing a node does not need.
MODULES_DUMP_ENV = "DREAM_NODE_MODULES_DUMP"

if TYPE_CHECKING:
    from dream.node.store import KVStore


async def _not_routed(request: Request, exc: Exception) -> Response:
    """An unknown path or a method a route does not take, in the API's error shape (not starlette's text)."""
    status = getattr(exc, "status_code", 404)
    if status == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = f"no route {request.method} {request.url.path} on this node"
    return JSONResponse({"code": status, "error": message}, status_code=status)


NOT_ROUTED: Any = {404: _not_routed, 405: _not_routed}


# The Unix socket serving a node's http port too (`Node.http_socket`), in the node's directory.
HTTP_SOCKET = "http.sock"
# sockaddr_un's sun_path holds 108 bytes with the final NUL: a longer path cannot be bound.
MAX_SOCKET_PATH = 107


class Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the node, and at rest wakes once a second instead
    of uvicorn's ten times: those wake-ups were over half of a universe's context switches at rest, each
    one a chance to take a core from a node serving. Its work once a second (the date header) is
    unchanged, and `should_exit` still ends it at once, from any thread or signal handler. The daemon's
    server is one too, with its own signal handling."""

    def __init__(self, config: uvicorn.Config) -> None:
        self._exiting = False
        self._exit = asyncio.Event()  # wakes `main_loop`
        self._loop: asyncio.AbstractEventLoop | None = None
        super().__init__(config)

    @property
    def should_exit(self) -> bool:
        return self._exiting

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._exiting = value
        loop = self._loop
        if value and loop is not None and not loop.is_closed():
            # Safe from a signal handler (the daemon's) or another thread, and it ends the loop's wait.
            loop.call_soon_threadsafe(self._exit.set)

    def stop(self) -> None:
        """Stop accepting and end `serve` once requests in flight are answered (as `HttpServer.stop`)."""
        self.should_exit = True

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864000  # a multiple of 10: `on_tick`'s once-a-second work
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), timeout=REST_TICK_SECONDS)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Node:
    """Base of every service and simple. Subclasses override the hooks below."""

    # Keeps a peer registry other nodes announce to (seer, elder).
    registry: ClassVar[bool] = False
    # Serves user traffic: worth uvloop's speed (and its memory).
    fast_loop: ClassVar[bool] = False
    # The public http port is served by dream's own HTTP server (`dream.http.server`), which lets
    # `fast_http` answer requests without an ASGI task; others use uvicorn.
    own_http_server: ClassVar[bool] = False
    # With `own_http_server`: a request whose client goes away has its ASGI task cancelled (a proxy).
    cancel_on_disconnect: ClassVar[bool] = False
    # With `own_http_server`: the public http port is also served on a Unix socket in the node's
    # directory (HTTP_SOCKET), advertised to peers: a proxy on this machine (the gateway) reaches it
    # for less kernel work per write and read than over loopback TCP.
    http_socket: ClassVar[bool] = False

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.log = logging.getLogger(f"dream.{config.name}")
        self.started = time.time()
        self.peers = PeerClient.for_node(config)
        self.peerstore = PeerStore() if self.registry else None
        self._store: Any = None
        self._servers: list[Any] = []  # uvicorn Servers, or an HttpServer for the public port
        # Faults `dream chaos` sets on this node's ports (none unless asked for).
        self.faults = chaos.Faults(config.label, self._fault_changed)
        self._fast_servers: list[Any] = []  # the HttpServers (http, https) whose fast path a fault turns off
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self.unix_sockets: dict[str, str] = {}  # port name → the Unix socket path also serving it

    # -- hooks for services -------------------------------------------------------------------------

    def p2p_routes(self) -> list[BaseRoute]:
        """Routes on the signed node-to-node API."""
        return []

    def http_routes(self) -> list[BaseRoute]:
        """Routes on the public HTTP port (services with an http port)."""
        return []

    def http_app(self) -> Any:
        """The ASGI app on the public HTTP port: `http_routes` in starlette, unless a service serves it
        itself (substrate and gateway put a raw ASGI fast path in front)."""
        return Starlette(routes=self.http_routes(), exception_handlers=NOT_ROUTED)

    # With `own_http_server`: takes websocket upgrades (`dream.http.websocket.Upgrade`); None refuses them.
    websocket_upgrade: Any = None
    # With `own_http_server`: relays the usual request in C before the server parses it (`HttpServer`'s
    # `relay`); None: every request goes through `fast_http` or `http_app`.
    http_relay: Any = None

    def fast_http(self, request: Any) -> Any:
        """With `own_http_server`: answer a public request synchronously, as (status, headers, body), or
        None to pass it to `http_app`. Runs on the event loop, so it must be quick."""
        return None

    async def tls_certificate(self, name: str) -> tuple[str, str] | None:
        """With an `https` port: the (certificate chain, key) PEM of the domain a TLS client names, or
        None when no project serves it (the handshake is refused)."""
        return None

    async def on_start(self) -> None:
        """Runs once the sockets are bound, before they serve (start background work with `spawn`)."""

    async def on_stop(self) -> None:
        """Runs on shutdown, before the sockets close."""

    def health(self) -> dict[str, Any]:
        """Extra fields for the health probe."""
        return {}

    # -- shared services ----------------------------------------------------------------------------

    @property
    def store(self) -> KVStore:
        if self._store is None:
            # Imported on first use: nodes that keep no state never map SQLite (less memory per node).
            from dream.node.store import KVStore

            self._store = KVStore(self.config.root_path / "node.db")
        return self._store

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        """A background task that is cancelled on stop and whose crash is logged, not lost."""
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    def stop(self) -> None:
        self._stopping.set()

    # -- the process --------------------------------------------------------------------------------

    def _p2p_app(self) -> Any:
        routes: list[BaseRoute] = [
            Route("/health", self._health, methods=["GET"]),
            Route("/kv/{key:path}", answer(self._kv), methods=["GET", "PUT", "DELETE"]),
        ]
        if self.peerstore is not None:
            routes += self.peerstore.routes()
        routes += self.p2p_routes()
        routes += chaos.routes(self.faults)
        app = Starlette(routes=routes, exception_handlers=NOT_ROUTED)
        return chaos.FaultGate(
            UniverseGuard(app, secret=self.config.secret, label=self.config.label), self.faults, "p2p"
        )

    def _fault_changed(self, port: str, active: bool) -> None:
        # The fast path answers without the ASGI app (and so without the gate): off while a fault is set.
        if port == "http":
            for server in self._fast_servers:
                server.fast = None if active else self.fast_http

    async def _health(self, request: Request) -> JSONResponse:
        body = {
            "id": self.config.id,
            "name": self.config.name,
            "kind": self.config.kind,
            "universe": self.config.universe,
            "pid": os.getpid(),
            "ports": self.config.ports,
            "uptime": round(time.time() - self.started, 3),
            **self.health(),
        }
        return JSONResponse(body)

    async def _kv(self, request: Request) -> Response:
        """The node's durable store, readable and writable by members of its universe."""
        key = STORE_KEY.param(request, "key")
        if request.method == "PUT":
            self.store.put(key, await request.body())
            return JSONResponse({"stored": key})
        if request.method == "DELETE":
            return JSONResponse({"deleted": self.store.delete(key)})
        value = self.store.get(key)
        if value is None:
            return JSONResponse(
                {"code": 404, "error": f"no key `{key}` on {self.config.label}"}, status_code=404
            )
        return Response(value, media_type="application/octet-stream")

    def me(self) -> PeerInfo:
        return PeerInfo.of(self.config, pid=os.getpid(), registry=self.registry, sockets=self.unix_sockets)

    async def run(self) -> None:
        apps: list[tuple[str, Any]] = [("p2p", self._p2p_app())]
        if "http" in self.config.ports:
            public = self.http_app()
            apps.append(("http", chaos.FaultGate(public, self.faults, "http")))
            if "https" in self.config.ports and self.own_http_server:
                # The same app behind TLS, with the http port's faults.
                apps.append(("https", chaos.FaultGate(public, self.faults, "http")))
        # Bind first (a taken port fails fast), set the service up, then serve: no request meets a
        # half-initialised service.
        sockets = [(app, [bind_tcp(self.config.ports[protocol])], protocol) for protocol, app in apps]
        if self.http_socket and self.own_http_server and "http" in self.config.ports:
            unix = self._bind_http_socket()
            if unix is not None:
                next(socks for _, socks, protocol in sockets if protocol == "http").append(unix)
        await self.on_start()
        for app, socks, protocol in sockets:
            server: Any
            if protocol in ("http", "https") and self.own_http_server:
                from dream.http.server import HttpServer
                from dream.http.tls import Certificates

                server = HttpServer(
                    app,
                    fast=self.fast_http,
                    keep_alive=30.0,
                    cancel_on_disconnect=self.cancel_on_disconnect,
                    tls=Certificates(self.tls_certificate, self.config.root_path / "tls")
                    if protocol == "https"
                    else None,
                    upgrade=self.websocket_upgrade,
                    relay=self.http_relay if protocol == "http" else None,  # TLS: the Python way
                )
                self._fast_servers.append(server)
            else:
                server = Server(server_config(app))
            self._servers.append(server)
            self.spawn(server.serve(sockets=socks), f"serve-{protocol}")
        while not all(s.started for s in self._servers):
            if any(t.done() for t in self._tasks):
                raise RuntimeError("a listener failed to start; see the lines above")
            await asyncio.sleep(0.005)
        self.spawn(self._announce_loop(), "announce")
        self.spawn(self._watch_daemon(), "watch-daemon")
        self.log.info("%s ready (pid %s, ports %s)", self.config.label, os.getpid(), self.config.ports)
        if dump := os.environ.get(MODULES_DUMP_ENV):
            self._dump_modules(dump)
        await self._stopping.wait()
        await self._shutdown()

    def _dump_modules(self, directory: str) -> None:
        path = os.path.join(directory, f"{self.config.universe}-{self.config.name}.txt")
        with open(path + ".part", "w") as out:
            out.write("".join(f"{name}\n" for name, module in sorted(sys.modules.items()) if module))
        os.replace(path + ".part", path)  # whole or absent: a test polls for it

    async def _shutdown(self) -> None:
        self.log.info("%s stopping", self.config.label)
        # Stop accepting and let requests in flight finish first: the service is still whole for them.
        for server in self._servers:
            server.stop()
        serving = [t for t in self._tasks if t.get_name().startswith("serve-")]
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*serving, return_exceptions=True), timeout=3)
        with contextlib.suppress(Exception):
            await self.on_stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.peers.close()
        if self._store is not None:
            self._store.close()
        for path in self.unix_sockets.values():
            with contextlib.suppress(OSError):
                os.unlink(path)

    def _bind_http_socket(self) -> socket.socket | None:
        """The Unix socket that serves the http port too, or None (said in a log line) when its path
        would be too long for the system: peers then use the TCP port."""
        path = os.path.join(self.config.root, HTTP_SOCKET)
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            self.log.info(
                "http is served on TCP only: the Unix socket path %s is longer than %d bytes",
                path,
                MAX_SOCKET_PATH,
            )
            return None
        sock = bind_unix(path)
        self.unix_sockets["http"] = path
        return sock

    async def _announce_loop(self) -> None:
        me = self.me()
        # Start-up: retry, quickly, only the registries that have not taken the announce yet (they are
        # starting too); then heartbeat every registry every HEARTBEAT_SECONDS or so.
        missing = list(self.peers.registries)
        deadline = time.monotonic() + 10
        pause = 0.02
        while missing and time.monotonic() < deadline:
            taken = await self.peers.announce(me, missing)
            missing = [url for url in missing if url not in taken]
            if missing:
                await asyncio.sleep(pause)
                pause = min(pause * 1.5, 0.08)  # registries still starting: back off, spare the CPU
        self.log.info(
            "announced to %d registr%s",
            len(self.peers.registries),
            "y" if len(self.peers.registries) == 1 else "ies",
        )
        while True:
            await asyncio.sleep(beat.pause(HEARTBEAT_SECONDS))
            await self.peers.announce(me)

    async def _watch_daemon(self) -> None:
        pid, start = self.config.daemon_pid, self.config.daemon_start
        if not pid:
            return
        if not await self._daemon_exit(pid, start):
            while process_start(pid) == start:  # no pidfd here: look twice a second
                await asyncio.sleep(beat.pause(DAEMON_CHECK_SECONDS))
        self.log.warning("daemon (pid %s) is gone; %s exits", pid, self.config.label)
        self.stop()

    @staticmethod
    async def _daemon_exit(pid: int, start: str) -> bool:
        """Wait for the daemon to exit on a pidfd, which the kernel makes readable then: no wake-up until
        it does (looking at /proc twice a second was a fifth of a universe's wake-ups at rest). False,
        at once, where pidfds are not available."""
        try:
            fd = os.pidfd_open(pid)
        except (AttributeError, OSError):  # an older kernel, or a system that refuses it
            return False
        try:
            # The pid opened may already be another process's: the start time says it is the daemon.
            if process_start(pid) != start:
                return True
            loop = asyncio.get_running_loop()
            exited = asyncio.Event()
            loop.add_reader(fd, exited.set)
            try:
                await exited.wait()
            finally:
                loop.remove_reader(fd)
        finally:
            os.close(fd)
        return True


def server_config(app: Any) -> uvicorn.Config:
    """How every node serves (the serving benchmark's bare baseline uses the same)."""
    return uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        http="httptools",
        interface="asgi3",
        ws="none",
        loop="none",
        timeout_keep_alive=30,
        timeout_graceful_shutdown=1,
    )


def bind_tcp(port: int) -> socket.socket:
    # IPPROTO_TCP named explicitly: asyncio turns Nagle off only for sockets that say they are TCP, and
    # with Nagle on every request after the first on a kept-alive connection waits ~40 ms.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return _listening(sock, ("127.0.0.1", port), f"127.0.0.1:{port}")


def bind_unix(path: str) -> socket.socket:
    """A listening Unix socket at `path`; one left behind by a node of the same directory that died
    without its stop is replaced (nothing listens on it any more)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return _listening(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), path, path)


def _listening(sock: socket.socket, address: Any, shown: str) -> socket.socket:
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {shown}: {exc.strerror}") from None
    sock.listen(1024)
    sock.set_inheritable(False)
    return sock


def install_signals(node: Node, loop: asyncio.AbstractEventLoop) -> None:
    # Ctrl-C reaches every process of the terminal's group; the daemon decides the order of shutdown.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    loop.add_signal_handler(signal.SIGTERM, node.stop)
