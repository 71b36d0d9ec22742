"""The multiverse: every universe of this daemon, the node supervisor, and the state file."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from dream.daemon.state import write_state
from dream.daemon.universe import NodeRecord, Universe
from dream.errors import DreamError
from dream.process import forkserver
from dream.process.identity import process_start
from dream.settings import DEFAULT_BRANCH
from dream.shapes import Shape

log = logging.getLogger("dream.daemon")


class Multiverse:
    def __init__(self, *, home: Path, port: int) -> None:
        self.home = home
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.universes: dict[str, Universe] = {}
        self.branches: list[str] = [DEFAULT_BRANCH, "master"]
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closing = False  # set on shutdown: nodes exiting now are not crashes
        self._locks: dict[str, asyncio.Lock] = {}
        self._supervisor = Supervisor(self)
        self.home.mkdir(parents=True, exist_ok=True)

    # -- universes -----------------------------------------------------------------------------------

    def get(self, name: str) -> Universe:
        universe = self.universes.get(name.lower())
        if universe is None:
            raise DreamError(f"universe `{name.lower()}` does not exist")
        return universe

    def lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name.lower(), asyncio.Lock())

    def kept(self) -> list[str]:
        """Universes kept on disk (`--keep`), running or not."""
        return sorted(p.name.removeprefix("universe-") for p in self.home.glob("universe-*") if p.is_dir())

    async def create(self, name: str, shape: Shape | None, *, keep: bool = False) -> Universe:
        name = name.lower()
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise DreamError(f"`{name}` is not a valid universe name: use letters, digits, - and _")
        async with self.lock(name):
            if name in self.universes:
                raise DreamError(f"universe `{name}` already exists")
            keep = keep or name in self.kept()
            universe = Universe(
                name, keep=keep, home=self.home, daemon_url=self.url, on_change=self.save_state
            )
            if shape is None:
                shape = universe.stored_shape()
            if shape is None:
                from dream.shapes import load_shape

                shape = load_shape()
            self.universes[name] = universe
            self._supervisor.wake()
            try:
                await universe.start(shape)
            except BaseException:
                self.universes.pop(name, None)
                if not keep:
                    await universe.stop(remove=True)
                self.save_state()
                raise
            self.save_state()
            return universe

    async def destroy(self, name: str) -> None:
        universe = self.get(name)
        async with self.lock(name):
            await universe.stop(remove=True)
            self.universes.pop(universe.name, None)
        self.save_state()

    async def close(self) -> None:
        self.closing = True
        await asyncio.gather(
            *(u.stop(remove=True) for u in list(self.universes.values())), return_exceptions=True
        )
        self.universes.clear()
        self._supervisor.close()

    def start_supervisor(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._supervisor.start()

    # -- state file ----------------------------------------------------------------------------------

    def save_state(self) -> None:
        nodes = [
            {"pid": r.pid, "start": process_start(r.pid), "label": r.config.label}
            for u in self.universes.values()
            for r in u.nodes.values()
            if r.pid
        ]
        state: dict[str, Any] = {
            "pid": os.getpid(),
            "start": process_start(os.getpid()),
            "port": self.port,
            "nodes": nodes,
            "temp_roots": [str(u.root) for u in self.universes.values() if not u.keep],
            "zygote": forkserver.pid_and_start(),
        }
        write_state(self.home, self.port, state)


class Supervisor:
    """Watches every node process and reports each death once to the event loop, which decides.

    This thread only reads the records and writes `record.exited`; it never restarts anything itself, so
    all of a node's state changes on one thread. A process is watched from the moment it is a record's
    `process` until the thread has reported it, whatever the loop does meanwhile, and the thread holds
    the process object while it waits on its sentinel (dropping the object would close that descriptor).
    """

    def __init__(self, multiverse: Multiverse) -> None:
        self.multiverse = multiverse
        self._closed = False
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="dream-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        os.write(self._wake_w, b"x")

    def close(self) -> None:
        self._closed = True
        self.wake()

    def _watched(self) -> dict[int, tuple[Universe, NodeRecord, BaseProcess]]:
        found: dict[int, tuple[Universe, NodeRecord, BaseProcess]] = {}
        for universe in list(self.multiverse.universes.values()):
            for record in list(universe.nodes.values()):
                process = record.process
                if process is not None and process is not record.exited and not record.stopping:
                    found[process.sentinel] = (universe, record, process)
        return found

    def _run(self) -> None:
        while not self._closed:
            watched = self._watched()
            # The short timeout picks up nodes spawned since the last round.
            ready = wait([*watched, self._wake_r], timeout=0.2)
            for sentinel in ready:
                if sentinel == self._wake_r:
                    os.read(self._wake_r, 1024)
                    continue
                universe, record, process = watched[sentinel]  # type: ignore[index]  # wait() gives back the sentinels it got
                code = forkserver.exit_code(process)
                if code is None:
                    continue
                record.exited = process  # reported once: this process is not watched again
                loop = self.multiverse.loop
                if loop is not None and not self._closed and not self.multiverse.closing:
                    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: shutting down
                        loop.call_soon_threadsafe(universe.node_exited, record, process, code)
