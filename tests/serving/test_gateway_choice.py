"""The gateway's choice of substrate against real substrates: among those serving the request, one with
the function already loaded (warm) first, then the one with the fewest requests in flight.

Three substrate copies serve the sample project. The test warms functions on some of them by calling
them directly, keeps one busy with a slow call through the gateway, and reads `x-substrate-peer` on
the gateway's answers.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import httpx
import pytest

from dream.clients.substrate import MATCH
from dream.testing.harness import UniverseHandle, wait_for

pytestmark = pytest.mark.e2e

HELLO = Path(__file__).resolve().parents[2] / "fixtures" / "projects" / "hello"
HOST = {"host": "hello.computers.com"}
SLOW_TIMEOUT = "60s"  # the slow call is stopped when its client goes away, long before this
SHAPE = {
    "Services": {
        "tns": {},
        "hoarder": {},
        "seer": {},
        "gateway": {},
        "substrate": {"Others": {"copies": 3}},
    },
    "Simples": {},
}
# GET /slow: "ready" at once, or with ?spin=1 a loop that only a stop ends (its timeout, or its client gone).
SLOW_WAT = """(module
  (import "taubyte/sdk" "getHttpEventQueryValueByNameSize"
    (func $querySize (param i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "eventHttpWrite" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "eventHttpRetCode" (func $ret (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "spin")
  (data (i32.const 32) "ready")
  (func (export "slow") (param $ev i32) (result i32)
    (drop (call $querySize (local.get $ev) (i32.const 0) (i32.const 16) (i32.const 4)))
    (if (i32.load (i32.const 0)) (then (loop $forever (br $forever))))
    (drop (call $write (local.get $ev) (i32.const 32) (i32.const 5) (i32.const 8)))
    (drop (call $ret (local.get $ev) (i32.const 200)))
    (i32.const 0)))
"""
SLOW_YAML = """id: {id}
description: answers at once, or keeps its substrate busy until its timeout
tags: []
source: .
trigger:
  type: https
  method: GET
  paths:
    - /slow
domains:
  - hello
execution:
  timeout: {timeout}
  memory: 10MB
  call: slow
"""


def sample_with_a_slow_function(root: Path) -> Path:
    """The sample project plus `slow` (GET /slow)."""
    project = root / "hello"
    shutil.copytree(HELLO, project)
    (project / "config" / "functions" / "slow.yaml").write_text(
        SLOW_YAML.format(id="QmHe11oFunctionS1ow".ljust(46, "0"), timeout=SLOW_TIMEOUT)
    )
    code = project / "code" / "functions" / "slow"
    shutil.copytree(HELLO / "code" / "functions" / "spin" / ".taubyte", code / ".taubyte")
    (code / "main.wat").write_text(SLOW_WAT)
    return project


@pytest.fixture(scope="module")
def choice(module_universe_factory, tmp_path_factory: pytest.TempPathFactory) -> UniverseHandle:  # type: ignore[no-untyped-def]
    universe = module_universe_factory("choice", config=SHAPE)
    project = sample_with_a_slow_function(tmp_path_factory.mktemp("choice"))
    universe.client.fixture(universe.name, "buildLocalProject", ["", "", str(project), ""])
    return universe


def test_the_gateway_prefers_a_warm_substrate_then_the_least_busy(choice: UniverseHandle) -> None:
    gateway = f"http://127.0.0.1:{choice.port('gateway')}"
    substrates = {n["id"]: n["value"] for n in choice.nodes() if n["name"].startswith("substrate@")}
    assert len(substrates) == 3

    def direct(peer: str, method: str, path: str) -> httpx.Response:
        return httpx.request(method, f"http://127.0.0.1:{substrates[peer]['http']}{path}", headers=HOST)

    def via_gateway(method: str, path: str, timeout: float = 10) -> tuple[str, httpx.Response]:
        answer = httpx.request(method, f"{gateway}{path}", headers=HOST, timeout=timeout)
        return answer.headers["x-substrate-peer"], answer

    with choice.node_client() as http:

        def warm(peer: str, method: str, path: str) -> bool:
            url = f"http://127.0.0.1:{substrates[peer]['p2p']}{MATCH}"
            answer = http.get(url, params={"host": HOST["host"], "method": method, "path": path}).json()
            assert answer["match"], (peer, path, answer)  # every copy serves the project
            return bool(answer["warm"])

        def inflight() -> int:
            return int(
                http.get(f"http://127.0.0.1:{choice.port('gateway', 'p2p')}/health").json()["inflight"]
            )

        # With nothing warm and nothing busy, the gateway's first choice among equals.
        first, redirect = via_gateway("GET", "/old")
        assert redirect.status_code == 302
        second, cold = (peer for peer in substrates if peer != first)
        # `first` gets /ping, /echo and /slow loaded; `second` only /ping; `cold` nothing.
        assert direct(first, "GET", "/ping").text == direct(second, "GET", "/ping").text == "PONG"
        assert direct(first, "POST", "/echo").status_code == 200
        assert direct(first, "GET", "/slow").text == "ready"
        assert [warm(p, "GET", "/ping") for p in (first, second, cold)] == [True, True, False]
        assert [warm(p, "POST", "/echo") for p in (first, second, cold)] == [True, False, False]
        assert [warm(p, "GET", "/slow") for p in (first, second, cold)] == [True, False, False]

        def running(peer: str) -> int:
            url = f"http://127.0.0.1:{substrates[peer]['p2p']}/health"
            return int(http.get(url).json()["calls"]["running"])

        # The slow call keeps its substrate busy until its client goes away: the checks below, however
        # slow the machine, end before it does.
        port = choice.port("gateway")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as busy:
            busy.sendall(f"GET /slow?spin=1 HTTP/1.1\r\nHost: {HOST['host']}\r\n\r\n".encode())
            wait_for(lambda: inflight() == 1, "the slow call to be in flight at the gateway")
            # /slow was warm only on `first`: it runs there.
            wait_for(lambda: running(first) == 1, "the slow call to run on the substrate where /slow is warm")
            # Warm and idle beats warm and busy; cold is never chosen while a warm one can serve.
            pings = [via_gateway("GET", "/ping") for _ in range(5)]
            # Warm beats idle: only `first` has /echo loaded, and it gets it although it is busy.
            echoes = [via_gateway("POST", "/echo") for _ in range(3)]
            assert (inflight(), running(first)) == (1, 1)  # the slow call ran all along
        assert [(peer, r.text) for peer, r in pings] == [(second, "PONG")] * 5
        assert [peer for peer, r in echoes] == [first] * 3 and all(r.status_code == 200 for _, r in echoes)
        # Its client gone, the gateway drops the call and the substrate stops it, long before its timeout.
        wait_for(lambda: (inflight(), running(first)) == (0, 0), "the slow call to stop", timeout=10)
        # Nothing busy any more: /ping goes to a warm substrate, never to the cold one.
        assert via_gateway("GET", "/ping")[0] in (first, second)
