"""`dream chaos`: a paused tns makes a push wait, then succeed; injected failures show at their rate and
stop when their time is up; a killed node comes back; a pause ends even if the daemon dies."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from dream.errors import DreamError
from dream.node.chaos import MAX_DELAY_SECONDS, MAX_FAULT_SECONDS
from dream.process.identity import process_start
from dream.testing.chaos import Chaos
from dream.testing.harness import DaemonProcess, UniverseHandle, git, pid_alive, wait_for
from dream.testing.plugin import UniverseFactory
from tests.inner_loop.cli import dream

JOB_WAIT = 120.0


@dataclass
class Deployed:
    universe: UniverseHandle
    root: Path
    chaos: Chaos

    def http(self) -> httpx.Client:
        port = self.universe.port("substrate")
        fqdn = self.universe.client.project(self.universe.name, "shaky")["functions"][0]["fqdn"]
        return httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"host": fqdn}, timeout=30)


@pytest.fixture(scope="module")
def deployed(
    module_universe_factory: UniverseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployed]:
    universe = module_universe_factory("chaos")
    root = tmp_path_factory.mktemp("shaky") / "shaky"
    universe.client.new_project(universe.name, "shaky", str(root), lang="wat")
    files = [
        str(root / "config" / "config.yaml"),
        str(root / "code" / "functions" / "ping_pong" / "main.wat"),
    ]
    first = universe.client.working_copy_change(universe.name, "shaky", files, path=str(root))
    assert not first["failed"], first
    chaos = Chaos(universe)
    try:
        yield Deployed(universe, root, chaos)
    finally:
        chaos.clear_all()


def node_state(pid: int) -> str:
    with open(f"/proc/{pid}/status") as fh:
        return next(line.split()[1] for line in fh if line.startswith("State:"))


def test_a_paused_tns_makes_a_push_wait_then_succeed(deployed: Deployed) -> None:
    code = deployed.root / "code"
    with deployed.http() as http:
        wait_for(lambda: http.get("/ping").text == "PONG", "the first deploy to serve", timeout=30)
        pause = 4.0
        paused = deployed.chaos.pause("tns", pause)
        resumes_at = time.monotonic() + pause
        assert node_state(paused["pid"]) == "T"  # stopped
        wat = code / "functions" / "ping_pong" / "main.wat"
        wat.write_text(wat.read_text().replace('"PONG"', '"PUSH"'))
        git("commit", "--quiet", "-am", "answer PUSH", cwd=code)
        git("push", "--quiet", "origin", "main", cwd=code)
        # While tns is frozen the job cannot publish: the old answer keeps being served.
        while time.monotonic() < resumes_at - 0.5:
            assert http.get("/ping").text == "PONG"
        wait_for(
            lambda: http.get("/ping").text == "PUSH", "the pushed answer once tns resumed", timeout=JOB_WAIT
        )
        assert time.monotonic() >= resumes_at - 0.5
        assert deployed.universe.client.chaos(deployed.universe.name)["paused"] == []


def test_injected_substrate_errors_show_at_their_rate_and_stop_when_the_time_is_up(
    deployed: Deployed,
) -> None:
    with deployed.http() as http:
        wait_for(lambda: http.get("/ping").status_code == 200, "the function to answer", timeout=30)
        seconds, rate, requests = 6.0, 0.3, 200
        deployed.chaos.fault("substrate", seconds=seconds, rate=rate)
        ends = time.monotonic() + seconds
        statuses = [http.get("/ping").status_code for _ in range(requests)]
        assert time.monotonic() < ends, "the requests took longer than the fault: raise `seconds`"
        failed = [s for s in statuses if s >= 500]
        assert set(statuses) <= {200, 503}
        # 200 draws at 0.3: 60 expected, 4.6 standard deviations either way.
        assert 30 <= len(failed) <= 90, len(failed)
        answer = http.get("/ping")
        if answer.status_code == 503:
            assert "dream chaos: injected failure on the http port of substrate" in answer.json()["error"]
        wait_for(lambda: time.monotonic() >= ends, "the fault's time to be up", timeout=seconds + 1)
        assert [http.get("/ping").status_code for _ in range(50)] == [200] * 50


def test_a_delay_slows_each_request_and_clear_ends_it(deployed: Deployed) -> None:
    with deployed.http() as http:
        with deployed.chaos.delayed("substrate", 0.3, seconds=30):
            started = time.monotonic()
            assert http.get("/ping").status_code == 200
            assert time.monotonic() - started >= 0.3

        def took() -> float:
            started = time.monotonic()
            http.get("/ping")
            return time.monotonic() - started

        # Each request waited 0.3 s while the delay was on; one slowed by a busy machine proves nothing.
        assert min(took() for _ in range(3)) < 0.3


def test_a_killed_substrate_is_restarted_and_serves_again(deployed: Deployed) -> None:
    client, name = deployed.universe.client, deployed.universe.name
    before = client.node(name, "substrate")
    killed = deployed.chaos.kill("substrate")
    assert killed["signal"] == "SIGKILL"
    wait_for(
        lambda: (
            (n := client.node(name, "substrate"))["restarts"] == before["restarts"] + 1 and n["state"] == "up"
        ),
        "the daemon to restart the substrate",
        timeout=60,
    )
    with deployed.http() as http:
        wait_for(lambda: http.get("/ping").status_code == 200, "the restarted substrate to serve", timeout=30)


def test_the_cli_and_its_limits(deployed: Deployed, dream_daemon: DaemonProcess) -> None:
    name = deployed.universe.name
    env = dream_daemon.env
    done = dream("chaos", "fail", "substrate", "--rate", "0.5", "--for", "1h", "-u", name, env=env)
    assert done.returncode == 0, done.stderr
    assert "substrate@chaos: 0.5 of requests on http answered 503 for 1h" in done.stdout
    listed = dream("chaos", "list", "-u", name, env=env)
    assert "substrate@chaos: http port, delay 0s, fail rate 0.5 (503)" in listed.stdout
    assert dream("chaos", "clear", "substrate", "-u", name, env=env).returncode == 0
    assert "no chaos in universe chaos" in dream("chaos", "list", "-u", name, env=env).stdout
    # At the limits: the longest fault and delay are taken, one more is refused with the limit's sentence.
    client = deployed.universe.client
    client.chaos_fault(name, "hoarder", seconds=MAX_FAULT_SECONDS, delay=MAX_DELAY_SECONDS, port="p2p")
    client.chaos_clear(name, "hoarder")
    # tns has no public port: a fault goes to its p2p port unless told otherwise, and http is refused.
    slow = dream("chaos", "delay", "tns", "200ms", "--for", "30s", "-u", name, env=env)
    assert "tns@chaos: 200ms added to each request on p2p for 30s" in slow.stdout, slow.stderr
    assert dream("chaos", "clear", "tns", "-u", name, env=env).returncode == 0
    with pytest.raises(DreamError, match="tns@chaos has no http port \\(it has: p2p\\); use --port p2p"):
        client.chaos_fault(name, "tns", seconds=5, rate=0.5, port="http")
    with pytest.raises(
        DreamError, match=f"a fault lasts more than 0s and at most {MAX_FAULT_SECONDS:g}s, not 3601s"
    ):
        client.chaos_fault(name, "hoarder", seconds=MAX_FAULT_SECONDS + 1, rate=0.1)
    with pytest.raises(DreamError, match=f"a delay is between 0s and {MAX_DELAY_SECONDS:g}s, not 61s"):
        client.chaos_fault(name, "hoarder", seconds=5, delay=MAX_DELAY_SECONDS + 1)
    with pytest.raises(DreamError, match="a failure rate is between 0 and 1"):
        client.chaos_fault(name, "hoarder", seconds=5, rate=1.5)
    with pytest.raises(DreamError, match="an injected failure answers a 5xx status, not 404"):
        client.chaos_fault(name, "hoarder", seconds=5, rate=0.5, status=404)
    with pytest.raises(DreamError, match="a pause lasts more than 0s and at most 3600s, not 3601s"):
        client.chaos_pause(name, "hoarder", MAX_FAULT_SECONDS + 1)
    paused = client.chaos_pause(name, "hoarder", MAX_FAULT_SECONDS)
    assert client.chaos_resume(name, "hoarder")["resumed"] is True
    assert node_state(paused["pid"]) != "T"
    bad = dream("chaos", "pause", "nope", "-u", name, env=env)
    assert bad.returncode == 1 and "no node `nope` in universe `chaos`" in bad.stderr


def test_a_pause_ends_even_when_the_daemon_is_killed(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "home").start()
    try:
        client = daemon.client()
        client.new_universe("frozen", {"Services": {"tns": {}}, "Simples": {}})
        paused = client.chaos_pause("frozen", "tns", 3)
        pid, start = paused["pid"], process_start(paused["pid"])
        assert node_state(pid) == "T"
        daemon.kill9()
        # Nobody is left to resume it but the resume process: once resumed, the node sees its daemon
        # gone and exits.
        wait_for(
            lambda: not pid_alive(pid) or process_start(pid) != start,
            "the paused node to resume and exit",
            timeout=30,
        )
    finally:
        daemon.stop()


def test_the_pytest_fixture_breaks_a_node_inside_a_block_only(
    deploy_project: Any, dream_chaos: Chaos
) -> None:
    project = deploy_project(Path(__file__).resolve().parents[2] / "fixtures" / "projects" / "hello")
    assert project.get("/ping").status_code == 200
    with dream_chaos.failing("substrate", rate=1.0, seconds=30):
        assert project.get("/ping").status_code == 503
    assert project.get("/ping").status_code == 200
