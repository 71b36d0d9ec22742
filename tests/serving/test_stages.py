"""`DREAM_STAGES=1` makes the substrate time its serving stages and report them in its health probe;
without it the probe has no `stages` and the serving code is not wrapped at all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dream.substrate import stages
from dream.substrate.runner import QUICK_STREAK
from dream.testing.harness import DaemonProcess, UniverseHandle, wait_for
from dream.testing.project import deploy

HELLO = Path(__file__).resolve().parents[2] / "fixtures" / "projects" / "hello"
SHAPE = {"Services": {"tns": {}, "hoarder": {}, "seer": {}, "substrate": {}}, "Simples": {}}
HOST = {"host": "hello.computers.com"}


@pytest.fixture(scope="module")
def timed_universe(tmp_path_factory: pytest.TempPathFactory, dream_cache: Path) -> Iterator[UniverseHandle]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv(stages.ENV, "1")  # read when the daemon starts: its nodes inherit it
        daemon = DaemonProcess(tmp_path_factory.mktemp("stages-home"), cache=dream_cache).start()
    try:
        client = daemon.client()
        client.new_universe("stages", SHAPE)
        universe = UniverseHandle(client, "stages")
        deploy(universe, HELLO)
        yield universe
    finally:
        daemon.stop()


def test_every_stage_of_an_inline_call_is_timed(timed_universe: UniverseHandle) -> None:
    url = f"http://127.0.0.1:{timed_universe.port('substrate')}/ping"
    with httpx.Client(headers=HOST) as client:
        # The first request routes and loads it; calls run on worker threads until QUICK_STREAK in a row
        # were quick (runner.QUICK_CPU), then inline, from the HTTP parser's callback (the fast path,
        # where `event` is timed). On a loaded machine the first calls after loading can be slower than
        # that: ask until the fast path serves, within a bound.
        def inline() -> bool:
            for _ in range(QUICK_STREAK):
                assert client.get(url).text == "PONG"
            counts = timed_universe.health("substrate")["stages"]
            return counts.get("event", {"count": 0})["count"] > 0

        wait_for(inline, timeout=60, what="the function to run inline")
        before = timed_universe.health("substrate")["stages"]
        for _ in range(20):
            assert client.get(url).text == "PONG"  # the fast path, inline
    after = timed_universe.health("substrate")["stages"]
    entered = {name: after[name]["count"] - before.get(name, {"count": 0})["count"] for name in after}
    for name in ("parse", "route", "event", "call set-up", "store and instance", "guest", "answer", "write"):
        assert entered[name] >= 20, (name, entered)
    assert entered["host calls"] >= 20  # PONG reads its method and writes a status and a body
    assert all(after[name]["ns"] >= before.get(name, {"ns": 0})["ns"] for name in after)


def test_untimed_substrates_report_no_stages(dream_universe: UniverseHandle) -> None:
    assert "stages" not in dream_universe.health("substrate")
