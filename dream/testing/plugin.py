"""pytest plugin (entry point `pytest11`): a running daemon and universes as fixtures.

    def test_ping(dream_universe):
        port = dream_universe.port("substrate")

`dream_daemon` is one daemon per test session (per xdist worker), with the session's own build cache
(`dream_cache`: build artefacts and compiled modules; the toolchains and their caches stay the
machine's). `dream_universe` is a universe of the default shape for the session;
`universe_factory(name, shape=...)` makes others, stopped at the end of the scope that asked for the
factory. `deploy_project(path)` builds and publishes a project directory
(`config/` + `code/` in the Taubyte layout) into `dream_universe` and returns a `DeployedProject`:

    def test_ping(deploy_project):
        project = deploy_project("my-project")
        assert project.get("/ping").text == "PONG"

`project_data(project)` seeds a project's databases and storages before a test and reads them after
(`ProjectData`: `seed`, `put`, `get`, `keys`, `delete`, `write_file`, `read_file`, `files`).
`fork_universe(snapshot)` gives a test a fresh universe started from a snapshot (`dream snapshot save`).
`dream_chaos` breaks nodes of `dream_universe` for a while (`dream.testing.chaos.Chaos`: `kill`,
`paused(...)`, `delayed(...)`, `failing(...)`), mended when the test ends.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dream.testing.chaos import Chaos
from dream.testing.data import ProjectData
from dream.testing.forks import FORKS_AHEAD, FORKS_AHEAD_INI, ForkPool
from dream.testing.harness import DaemonProcess, UniverseHandle
from dream.testing.project import DeployedProject, deploy

# The nodes that serve a deployed project's functions: a fork that only calls them needs no more.
FORK_SERVING = ("substrate", "tns", "hoarder")

UniverseFactory = Callable[..., UniverseHandle]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("dream_shape", "universe shape for the dream_universe fixture", default="default")
    parser.addini(
        FORKS_AHEAD_INI,
        "forks fork_universe starts ahead per snapshot, for the tests that will ask (0: none)",
        default=str(FORKS_AHEAD),
    )


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def dream_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test session's build-artefact and compiled-module cache (DREAM_CACHE of its daemons), shared
    by the xdist workers of one run (entries are keyed by content and written atomically)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's temp dir; each worker's own is a folder in it
    cache = base / "dream-cache"
    cache.mkdir(parents=True, exist_ok=True)
    return cache


@pytest.fixture(scope="session")
def dream_daemon(tmp_path_factory: pytest.TempPathFactory, dream_cache: Path) -> Iterator[DaemonProcess]:
    """A multiverse daemon of its own (free port, own DREAM_HOME, the session's cache), stopped after
    the session."""
    home: Path = tmp_path_factory.mktemp("dream-home")
    daemon = DaemonProcess(home, cache=dream_cache).start()
    try:
        yield daemon
    finally:
        daemon.stop()


def _factory(daemon: DaemonProcess) -> tuple[UniverseFactory, Callable[[], None]]:
    made: list[UniverseHandle] = []
    client = daemon.client()

    def make(
        name: str, *, shape: str | None = None, config: dict | None = None, keep: bool = False
    ) -> UniverseHandle:
        client.new_universe(name, config, keep=keep, shape=shape)
        handle = UniverseHandle(client, name.lower())
        made.append(handle)
        return handle

    def cleanup() -> None:
        for handle in made:
            if handle.name in client.universes():
                with contextlib.suppress(Exception):
                    client.kill_universe(handle.name)
        client.close()

    return make, cleanup


@pytest.fixture(scope="session")
def universe_factory(dream_daemon: DaemonProcess) -> Iterator[UniverseFactory]:
    make, cleanup = _factory(dream_daemon)
    try:
        yield make
    finally:
        cleanup()


@pytest.fixture(scope="module")
def module_universe_factory(dream_daemon: DaemonProcess) -> Iterator[UniverseFactory]:
    make, cleanup = _factory(dream_daemon)
    try:
        yield make
    finally:
        cleanup()


@pytest.fixture(scope="session")
def dream_universe(universe_factory: UniverseFactory, pytestconfig: pytest.Config) -> UniverseHandle:
    """A universe of the configured shape (ini `dream_shape`, default all services), shared by the session."""
    return universe_factory(f"session-{_worker()}", shape=pytestconfig.getini("dream_shape"))


@pytest.fixture(scope="session")
def _fork_reaper(dream_daemon: DaemonProcess) -> Iterator[Callable[[str], None]]:
    """Kills forks after their tests, on a thread of its own: a test does not wait for its fork's nodes to
    exit. Every kill is done before the session's daemon stops."""
    client = dream_daemon.client()

    def kill(name: str) -> None:
        with contextlib.suppress(Exception):  # a test may have killed it already
            client.kill_universe(name)

    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dream-fork-reaper") as pool:

            def later(name: str) -> None:
                pool.submit(kill, name)

            yield later
    finally:
        client.close()


@pytest.fixture(scope="module")
def _fork_pool(
    dream_daemon: DaemonProcess, _fork_reaper: Callable[[str], None], pytestconfig: pytest.Config
) -> Iterator[ForkPool]:
    """Forks started ahead of the tests that ask for them (`dream.testing.forks`); one pool per test
    module, so a fork started ahead and left unused does not outlive its module."""
    ahead = str(pytestconfig.getini(FORKS_AHEAD_INI)).strip()
    if not ahead.isdigit():
        raise pytest.UsageError(f"ini {FORKS_AHEAD_INI} = {ahead!r}: give a whole number (0: no forks ahead)")
    pool = ForkPool(dream_daemon, _fork_reaper, int(ahead))
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def fork_universe(
    dream_daemon: DaemonProcess, _fork_reaper: Callable[[str], None], _fork_pool: ForkPool
) -> Iterator[Callable[..., UniverseHandle]]:
    """`fork(snapshot, name=None, only=None)` → a fresh universe started from a snapshot (`dream snapshot
    save`), with the snapshot's projects already serving; each is killed, and its folder removed, after
    the test (on a thread of its own: the next test does not wait for it). `only` starts just the nodes
    a test needs, e.g. `FORK_SERVING` to call functions. Without a `name`, the fork may be one started
    ahead while an earlier test ran (`dream.testing.forks`)."""
    client = dream_daemon.client()
    made: list[UniverseHandle] = []

    def fork(snapshot: str, name: str | None = None, only: Sequence[str] | None = None) -> UniverseHandle:
        if name is None:
            name = _fork_pool.take(snapshot, only)
        else:
            _fork_pool.load(snapshot, only, name, client)
        handle = UniverseHandle(client, name)
        made.append(handle)
        return handle

    try:
        yield fork
    finally:
        for handle in made:
            _fork_reaper(handle.name)
        client.close()


@pytest.fixture
def dream_chaos(dream_universe: UniverseHandle) -> Iterator[Chaos]:
    """`dream chaos` on `dream_universe`: kill, pause, delay or fail its nodes; whatever the test paused
    or faulted is mended when it ends. For another universe: `Chaos(handle)` from `dream.testing.chaos`."""
    chaos = Chaos(dream_universe)
    try:
        yield chaos
    finally:
        chaos.clear_all()


@pytest.fixture
def deploy_project(
    dream_universe: UniverseHandle, request: pytest.FixtureRequest
) -> Iterator[Callable[..., DeployedProject]]:
    """Deploy a project directory (relative paths are taken from the test file's folder)."""
    deployed: list[DeployedProject] = []

    def run(path: str | Path, *, branch: str = "") -> DeployedProject:
        target = Path(path)
        if not target.is_absolute():
            target = Path(request.path).parent / target
        project = deploy(dream_universe, target, branch=branch)
        deployed.append(project)
        return project

    try:
        yield run
    finally:
        for project in deployed:
            project.close()


@pytest.fixture
def project_data() -> Callable[..., ProjectData]:
    """`project_data(project)`: the data of a `DeployedProject` (or, with `universe=`, of a project
    named or identified in that universe), to seed before calling its functions and to read after."""

    def make(
        project: DeployedProject | str, *, universe: UniverseHandle | None = None, app: str | None = None
    ) -> ProjectData:
        if isinstance(project, DeployedProject):
            return ProjectData(universe or project.universe, project.id, app)
        if universe is None:
            raise TypeError("project_data(<name or id>) needs universe=<the UniverseHandle it lives in>")
        return ProjectData(universe, project, app)

    return make
