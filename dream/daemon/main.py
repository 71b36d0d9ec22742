"""Run the daemon: `python -m dream.daemon` (the CLI's `dream new multiverse` execs or detaches this)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import uvicorn

from dream.daemon import zygote
from dream.daemon.actions import find
from dream.daemon.app import build_app
from dream.daemon.multiverse import Multiverse
from dream.daemon.ports import port_is_free
from dream.daemon.state import clean_stale, is_alive, read_state, remove_state
from dream.errors import DreamError
from dream.node.runtime import Server as NodeServer
from dream.node.runtime import bind_tcp
from dream.settings import daemon_port, dream_home
from dream.shapes import Shape

log = logging.getLogger("dream.daemon")

COLORS = {"DEBUG": "2", "INFO": "36", "WARNING": "33", "ERROR": "31", "SUCCESS": "32"}


class TagFormatter(logging.Formatter):
    """`[INFO] message`, like upstream's terminal output."""

    def __init__(self, color: bool) -> None:
        super().__init__()
        self.color = color

    def format(self, record: logging.LogRecord) -> str:
        level = getattr(record, "tag", None) or (
            "WARN" if record.levelname == "WARNING" else record.levelname
        )
        tag = f"[{level}]"
        if self.color:
            tag = (
                f"\033[{COLORS.get(record.levelname if level != 'SUCCESS' else 'SUCCESS', '0')}m{tag}\033[0m"
            )
        text = f"{tag} {record.getMessage()}"
        # Tracebacks of expected errors are noise; an unexpected failure's (`traceback` set) always shows.
        wanted = getattr(record, "traceback", False) or os.environ.get("DREAM_DEBUG")
        if record.exc_info and record.levelno >= logging.ERROR and wanted:
            text += "\n" + self.formatException(record.exc_info)
        return text


def success(message: str) -> None:
    log.info(message, extra={"tag": "SUCCESS"})


class Server(NodeServer):
    """uvicorn that shuts the multiverse down on SIGINT/SIGTERM without re-raising the signal after, and
    wakes once a second at rest (as the nodes' servers)."""

    multiverse: Multiverse | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        def handle(sig: int, frame: object) -> None:
            if self.should_exit:
                self.force_exit = True
                return
            log.info("Received signal %s... Shutting down.", signal.Signals(sig).name)
            if self.multiverse is not None:
                self.multiverse.closing = True
            self.should_exit = True

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m dream.daemon", description="The dream multiverse daemon."
    )
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--universe", action="append", default=[], help="universe to start (repeatable)")
    parser.add_argument("--config", default="", help="universe shape in the API's JSON config shape")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--fixture", action="append", default=[])
    parser.add_argument("--branch", default="")
    return parser.parse_args(argv)


def check_not_running(home: Path, port: int) -> None:
    state = read_state(home, port)
    if state and is_alive(int(state.get("pid", 0)), str(state.get("start", ""))):
        raise DreamError(
            f"a multiverse is already running on port {port} (pid {state['pid']}); "
            f"stop it with `dream kill multiverse` or use it"
        )
    for line in clean_stale(home, port):
        log.info("cleaned up after a daemon that did not stop cleanly: %s", line)
    if not port_is_free(port):
        raise DreamError(
            f"port {port} is taken by another program; stop it or choose another port with --port or DREAM_PORT"
        )


async def start_universes(multiverse: Multiverse, args: argparse.Namespace, server: Server) -> None:
    shape = Shape.from_api(json.loads(args.config)) if args.config else None
    try:
        for name in args.universe:
            universe = await multiverse.create(name, shape, keep=args.keep)
            if ports := universe.gateway_ports():
                urls = ", ".join(
                    f"{protocol}://<fqdn>.localhost:{port}/" for protocol, port in sorted(ports.items())
                )
                log.info("universe %s: functions and websites at %s", universe.name, urls)
            for fixture_name in args.fixture:
                from dream.daemon.actions import FixtureContext

                fixture = find(fixture_name)
                await fixture.run(FixtureContext(multiverse, universe), fixture.bind([]))
    except DreamError as exc:
        log.error("%s", exc)
        server.should_exit = True
        server.exit_code = 1  # type: ignore[attr-defined]  # ours, on uvicorn's Server: main's exit status
        return
    if len(args.universe) == 1:
        success(f"Universe {args.universe[0]} started!")
    elif args.universe:
        success(f"Multiverse containing [{' '.join(args.universe)}] started!")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(TagFormatter(color=sys.stdout.isatty()))
    logging.basicConfig(
        level=logging.DEBUG if os.environ.get("DREAM_DEBUG") else logging.INFO, handlers=[handler], force=True
    )
    for noisy in ("uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    home = dream_home()
    port = args.port or daemon_port()
    try:
        check_not_running(home, port)
    except DreamError as exc:
        log.error("%s", exc)
        sys.exit(1)

    multiverse = Multiverse(home=home, port=port)
    if args.branch:
        multiverse.branches = [args.branch]

    def shutdown() -> None:
        multiverse.closing = True
        server.should_exit = True

    app = build_app(multiverse, on_shutdown=shutdown)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        loop="asyncio",  # the daemon serves few requests: uvloop would only cost memory
        http="httptools",
        lifespan="on",
        timeout_graceful_shutdown=3,
    )
    server = Server(config)
    server.multiverse = multiverse
    server.exit_code = 0  # type: ignore[attr-defined]  # ours, on uvicorn's Server: main's exit status

    @contextlib.asynccontextmanager
    async def lifespan(app: object) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        multiverse.start_supervisor(loop)
        multiverse.save_state()
        # The zygote warms up while the API starts listening.
        await asyncio.to_thread(zygote.warm)
        log.info("Dreamland ready")
        task = asyncio.create_task(start_universes(multiverse, args, server))
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await multiverse.close()
            remove_state(home, port)
            log.info("Dream stopped")

    app.router.lifespan_context = lifespan
    # Bound before anything else: uvicorn binds only after the lifespan has started, and by then the
    # universe being created could have been handed this very port by the kernel for one of its nodes.
    try:
        sock = bind_tcp(port)
    except OSError as exc:
        log.error("%s; choose another port with --port or DREAM_PORT", exc.strerror)
        sys.exit(1)
    server.run(sockets=[sock])
    sys.exit(server.exit_code)  # type: ignore[attr-defined]  # set above
