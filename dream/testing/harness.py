"""A daemon process and universe handles for tests: started for real, always stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from dream.client import DreamClient
from dream.daemon.ports import PORT_RETRIES, free_port
from dream.errors import DreamError
from dream.node.security import UniverseAuth
from dream.settings import CACHE_ENV, GATEWAY_PORTS_ENV, HOME_ENV, PORT_ENV


def cache_env(cache: Path) -> dict[str, str]:
    """The environment that gives a daemon its own build-artefact and compiled-module caches in `cache`,
    while the toolchains and their caches (Go's GOCACHE, zig's wasi-libc: minutes to fill) stay the
    machine's, shared with every other daemon."""
    from dream.builders.paths import TOOL_CACHE_ENV, TOOLS_ENV, tool_cache_dir, tools_dir

    return {CACHE_ENV: str(cache), TOOLS_ENV: str(tools_dir()), TOOL_CACHE_ENV: str(tool_cache_dir())}


class DaemonProcess:
    """`python -m dream.daemon` on a free port with its own DREAM_HOME and build cache (`cache`, by
    default `<home>/cache`): tests never read or fill the machine's build cache. `tree`: run dream from
    that checkout instead of this one (a benchmark's A/B against an earlier commit)."""

    def __init__(
        self, home: Path, *, port: int | None = None, cache: Path | None = None, tree: Path | None = None
    ) -> None:
        self.home = home
        self.tree = tree
        self.cache = cache or home / "cache"
        self.chosen_port = port is None  # the kernel's: another may be taken if it is gone at start
        self.process: subprocess.Popen[bytes] | None = None
        self._use_port(port or free_port())

    def _use_port(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = self.home / f"test-daemon-{port}.log"

    @property
    def env(self) -> dict[str, str]:
        # The default universe's fixed gateway ports stay off unless a test asks for them: tests run
        # universes in parallel, and the ports may be someone else's.
        return {
            GATEWAY_PORTS_ENV: "off",
            **os.environ,
            PORT_ENV: str(self.port),
            HOME_ENV: str(self.home),
            **cache_env(self.cache),
            **({"PYTHONPATH": str(self.tree)} if self.tree is not None else {}),
        }

    def start(self, *args: str, timeout: float = 60.0) -> DaemonProcess:
        """Start the daemon and wait until it answers. A port the kernel gave that another program bound
        before the daemon could (the same race as a node's, docs/concepts.md) is chosen again."""
        for attempt in range(PORT_RETRIES + 1):
            try:
                return self._start(args, timeout)
            except DreamError as exc:
                said = str(exc)
                taken = "address already in use" in said.lower() or "is taken by another program" in said
                if not (self.chosen_port and taken) or attempt == PORT_RETRIES:
                    raise
                self._use_port(free_port(avoid={self.port}))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _start(self, args: tuple[str, ...], timeout: float) -> DaemonProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dream.daemon", "--port", str(self.port), *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.tree,  # `-m` looks in the working directory first
            )
        deadline = time.monotonic() + timeout
        with self.client() as client:
            while not client.ping():
                if self.process.poll() is not None:
                    raise DreamError(f"daemon exited with {self.process.returncode}:\n{self.log()}")
                if time.monotonic() > deadline:
                    raise DreamError(f"daemon did not answer within {timeout}s:\n{self.log()}")
                time.sleep(0.02)
        return self

    def client(self) -> DreamClient:
        """A client of this daemon, with the token of its own DREAM_HOME."""
        return DreamClient(self.url, home=self.home)

    @property
    def token(self) -> str:
        """The daemon's token (for raw HTTP calls: `Authorization: Bearer <token>`)."""
        from dream.api_token import read_token

        token = read_token(self.home)
        if token is None:
            raise DreamError(f"no token in {self.home}: the daemon makes it when it starts")
        return token

    def auth(self) -> dict[str, str]:
        """The header a raw HTTP call to a state-changing route needs."""
        return {"authorization": f"Bearer {self.token}"}

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful stop; SIGKILL of the whole session if it does not go in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@dataclass
class UniverseHandle:
    """A running universe as tests see it."""

    client: DreamClient
    name: str

    def nodes(self) -> list[dict[str, Any]]:
        return self.client.nodes(self.name)

    def node(self, name: str) -> dict[str, Any]:
        return self.client.node(self.name, name)

    def port(self, name: str, protocol: str = "http") -> int:
        return self.client.port(self.name, name, protocol)

    def pids(self) -> list[int]:
        return [int(n["pid"]) for n in self.nodes() if n.get("pid")]

    def pushed_project(self, name: str, path: Path, *, lang: str = "wat") -> dict[str, Any]:
        """A new ping_pong project in `lang`, its working copies at `path`, pushed: both its builds
        succeeded (AssertionError with the jobs when not). What `new_project` answers."""
        created = self.client.new_project(self.name, name, str(path), lang=lang)
        result = self.client.fixture(self.name, "pushAll", [created["id"], "", ""])["result"]
        assert [job["status"] for job in result["jobs"]] == ["success", "success"], result
        return created

    @property
    def id(self) -> str:
        return self.client.universe_id(self.name)

    def key(self) -> bytes:
        """The universe secret, read from its root (tests sign node calls with it)."""
        import json

        root = Path(self.client.status()[self.name]["root"])
        return bytes.fromhex(json.loads((root / "universe.json").read_text())["key"])

    def node_client(self, *, key: bytes | None = None, peer: str = "test") -> httpx.Client:
        """An httpx client that signs like a member of this universe (or with another key)."""
        return httpx.Client(auth=UniverseAuth(key or self.key(), peer=peer, universe=self.id), timeout=10)

    def health(self, name: str) -> dict[str, Any]:
        """The health probe of the first `name` node (its signed p2p `/health`, service fields included)."""
        with self.node_client() as client:
            return dict(client.get(f"http://127.0.0.1:{self.port(name, 'p2p')}/health").json())

    def wait_for(self, predicate: Any, *, timeout: float = 15.0, what: str = "condition") -> Any:
        return wait_for(predicate, what, timeout=timeout)

    def publish(
        self,
        channel: str,
        data: bytes,
        *,
        project: str = "",
        effect: Callable[[], Any] | None = None,
        timeout: float = 30.0,
    ) -> Any:
        """Publish `data` on `channel` (of `project`, a name or id, else of every project with such a
        channel), as `dream pubsub publish` does; with `effect`, wait (bounded) until it returns
        something true, e.g. the subscribed function's write being visible, and return that."""
        published = self.client.publish(self.name, channel, data, project=project)
        if effect is None:
            return published
        return wait_for(effect, f"the effect of a message on `{channel}`", timeout=timeout)


class _Poll:
    """One bounded wait: `done()` asks `predicate` once, keeps a true answer in `value`, and raises
    AssertionError naming `what` once `timeout` seconds have passed without one."""

    def __init__(self, predicate: Callable[[], Any], what: str, timeout: float) -> None:
        self.predicate, self.what, self.timeout = predicate, what, timeout
        self.deadline = time.monotonic() + timeout
        self.value: Any = None

    def done(self) -> bool:
        self.value = self.predicate()
        if self.value:
            return True
        if time.monotonic() > self.deadline:
            raise AssertionError(f"timed out after {self.timeout}s waiting for {self.what}")
        return False


def wait_for(
    predicate: Callable[[], Any], what: str = "condition", *, timeout: float = 15.0, every: float = 0.02
) -> Any:
    """Poll `predicate` every `every` seconds until it returns something true (returned), for at most
    `timeout` seconds (then AssertionError naming `what`): the bounded wait tests use instead of sleeps."""
    poll = _Poll(predicate, what, timeout)
    while not poll.done():
        time.sleep(every)
    return poll.value


async def until(
    predicate: Callable[[], Any], what: str = "condition", *, timeout: float = 15.0, every: float = 0.005
) -> Any:
    """`wait_for` for code on an event loop: awaits between polls, so the loop's own tasks run meanwhile."""
    poll = _Poll(predicate, what, timeout)
    while not poll.done():
        await asyncio.sleep(every)
    return poll.value


def exit_on_sigterm() -> None:
    """For a script that starts daemons and servers (the benches): SIGTERM unwinds like Ctrl-C, so its
    `finally` blocks stop what it started. Further SIGTERMs are ignored from then on: one sent to a
    wrapper such as `timeout` as well as to the script would otherwise cut that clean-up short and leave
    a daemon running."""

    def unwind(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, unwind)


def pid_alive(pid: int) -> bool:
    from dream.process.identity import process_start

    return process_start(pid) != ""


def git(*args: str, cwd: Path, timeout: float = 120) -> str:
    """Run the real `git` (through GitPython) in `cwd` as a test user (its stdout, stripped); a failure
    raises with git's own message."""
    from dream import gitrun

    result = gitrun.run(
        ["-c", "user.name=test", "-c", "user.email=test@localhost", *args], cwd=cwd, env=None, timeout=timeout
    )
    if result.status != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}:\n{result.stderr}")
    return result.stdout.strip()
