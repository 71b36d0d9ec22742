"""`dream bench`: a bounded load run against a deployed function or a URL, with its numbers."""

from __future__ import annotations

import json

import pytest

from dream.cli.load import MAX_CONNECTIONS, MAX_DURATION
from dream.testing.chaos import Chaos
from dream.testing.harness import DaemonProcess, UniverseHandle
from dream.testing.plugin import UniverseFactory
from tests.inner_loop.cli import dream


@pytest.fixture(scope="module")
def universe(
    module_universe_factory: UniverseFactory, tmp_path_factory: pytest.TempPathFactory
) -> UniverseHandle:
    universe = module_universe_factory("bench")
    root = tmp_path_factory.mktemp("loaded") / "loaded"
    universe.client.new_project(universe.name, "loaded", str(root), lang="wat")
    files = [
        str(root / "config" / "config.yaml"),
        str(root / "code" / "functions" / "ping_pong" / "main.wat"),
    ]
    assert not universe.client.working_copy_change(universe.name, "loaded", files, path=str(root))["failed"]
    return universe


def test_a_function_by_name_is_loaded_and_measured(
    universe: UniverseHandle, dream_daemon: DaemonProcess
) -> None:
    done = dream(
        "bench", "loaded/ping_pong", "-c", "4", "-d", "1s", "-u", "bench", "--json", env=dream_daemon.env
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["target"].startswith("loaded/ping_pong (GET ") and report["target"].endswith(
        "/ping via substrate)"
    )
    assert report["connections"] == 4 and report["requests"] > 0
    assert report["first_ms"] > 0  # the first request, answered before the timed run
    assert report["statuses"] == {"200": report["requests"]}
    lat = report["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert report["requests_per_second"] > 0 and report["errors"] == {}
    # The table, for a person.
    table = dream("bench", "ping_pong", "-c", "2", "-d", "0.5s", "-u", "bench", env=dream_daemon.env)
    assert table.returncode == 0, table.stderr
    assert "req/s" in table.stdout and "p99 ms" in table.stdout and "statuses: 200:" in table.stdout


def test_a_url_and_the_failures_chaos_injects(universe: UniverseHandle, dream_daemon: DaemonProcess) -> None:
    port = universe.port("substrate")
    fqdn = universe.client.project("bench", "loaded")["functions"][0]["fqdn"]
    url = f"http://127.0.0.1:{port}/ping"
    with Chaos(universe).failing("substrate", rate=1.0, seconds=30):
        done = dream(
            "bench", url, "-H", f"Host: {fqdn}", "-c", "2", "-d", "0.5s", "--json", env=dream_daemon.env
        )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["statuses"] == {"503": report["requests"]} and report["requests"] > 0


def test_limits_and_bad_targets(universe: UniverseHandle, dream_daemon: DaemonProcess) -> None:
    env = dream_daemon.env
    port = universe.port("substrate")
    at_limit = dream(
        "bench", f"http://127.0.0.1:{port}/", "-c", str(MAX_CONNECTIONS), "-d", "0.3s", "--json", env=env
    )
    assert at_limit.returncode == 0, at_limit.stderr
    assert json.loads(at_limit.stdout)["connections"] == MAX_CONNECTIONS
    over = dream("bench", "http://127.0.0.1:1/", "-c", str(MAX_CONNECTIONS + 1), env=env)
    assert (
        over.returncode == 1 and f"--connections is between 1 and {MAX_CONNECTIONS}, not 257" in over.stderr
    )
    long = dream("bench", "http://127.0.0.1:1/", "-d", "301s", env=env)
    assert f"--duration is more than 0s and at most {MAX_DURATION:g}s, not 301s" in long.stderr
    nothing = dream("bench", "http://127.0.0.1:1/", "-d", "0.3s", env=env)
    assert nothing.returncode == 1 and "cannot connect to http://127.0.0.1:1/: " in nothing.stderr
    assert "is it running?" in nothing.stderr
    unknown = dream("bench", "loaded/nope", "-u", "bench", env=env)
    assert unknown.returncode == 1 and "no http function `nope` in project loaded" in unknown.stderr
    assert "is not an http:// URL" in dream("bench", "ftp://x/", env=env).stderr
