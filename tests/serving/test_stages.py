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
    path = timed_universe.health("substrate")["wasm_call"]
    # The stages wrap the native path's C call, or the raw path's functions (store and instance, guest);
    # the object and plain paths are timed as one `call set-up` stage, and may run too slowly to go
    # inline when timed.
    wasm_stages = {"native": ("wasm call (C)",), "raw": ("store and instance", "guest")}.get(path)
    if wasm_stages is None:
        pytest.skip(
            f"the stage breakdown is the native and raw paths'; this substrate calls through `{path}`"
        )
    url = f"http://127.0.0.1:{timed_universe.port('substrate')}/ping"
    with httpx.Client(headers=HOST) as client:

        def runs_inline() -> bool:
            # Calls run on worker threads until enough were quick (runner.QUICK_STREAK, judged by CPU
            # time; the first call after each health probe finds cold caches and is often slower, which
            # costs the count runner.SLOW_WORKER_COST calls), then inline, from the HTTP parser's
            # callback (the substrate's health counts the routes that run inline).
            for _ in range(QUICK_STREAK):
                assert client.get(url).text == "PONG"
            return bool(timed_universe.health("substrate")["inline"]["routes"])

        wait_for(runs_inline, "the ping function to run inline", timeout=120)
        # A function answered in one C call (`FunctionModule.serve`) gets no HttpEvent: no event stage.
        one_call = bool(timed_universe.health("substrate")["inline"]["one_c_call"])
        before = timed_universe.health("substrate")["stages"]
        for _ in range(20):
            assert client.get(url).text == "PONG"
    after = timed_universe.health("substrate")["stages"]
    entered = {name: after[name]["count"] - before.get(name, {"count": 0})["count"] for name in after}
    # Inline, every request passes every stage (a slow one may send it back to a worker: most stay).
    event = () if one_call else ("event",)
    for name in ("parse", "route", *event, "call set-up", *wasm_stages, "answer", "write"):
        assert entered[name] >= 10, (name, entered)
    if path == "raw":  # the native path answers PONG's host calls in C, inside its own stage
        assert entered["host calls"] >= 10  # PONG reads its method and writes a status and a body
    assert all(after[name]["ns"] >= before.get(name, {"ns": 0})["ns"] for name in after)


def test_untimed_substrates_report_no_stages(dream_universe: UniverseHandle) -> None:
    assert "stages" not in dream_universe.health("substrate")
