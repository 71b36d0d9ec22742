"""The request inspector end to end: requests to a function, direct and through the gateway, recorded by
the substrate and the gateway, joined by the daemon (`GET /inspect/{u}`), shown by `dream inspect`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from dream.http.records import INSPECT_RING, RequestRing, read_params
from dream.testing.harness import DaemonProcess, UniverseHandle, wait_for

pytestmark = pytest.mark.e2e


def test_the_ring_keeps_exactly_its_size() -> None:
    ring = RequestRing(("seq", "time", "path"))
    assert ring.size == INSPECT_RING
    for _ in range(INSPECT_RING):
        ring.add((ring.next_seq(), 0, b"/p"))
    kept = ring.after()
    assert len(kept) == INSPECT_RING and kept[0]["seq"] == 1 and kept[0]["path"] == "/p"
    ring.add((ring.next_seq(), 0, b"/q"))  # one more: the oldest goes
    kept = ring.after()
    assert (
        len(kept) == INSPECT_RING
        and kept[0]["seq"] == 2
        and kept[-1]["seq"] == INSPECT_RING + 1
        and kept[-1]["path"] == "/q"
    )
    assert [r["seq"] for r in ring.after(INSPECT_RING - 1)] == [INSPECT_RING, INSPECT_RING + 1]
    assert len(ring.after(0, limit=3)) == 3


def test_the_record_made_in_c_is_the_record_python_makes() -> None:
    """The compiled extension's `record` (what a substrate uses when it is built) keeps every field
    `Front._record` keeps, alike: a call through a gateway, one straight in, and a failed one."""
    from dream.substrate.front import RECORD_FIELDS, Front, _clock
    from dream.substrate.routing import Resource
    from dream.substrate.runner import ReadyFunction
    from dream.wasm.native import recorder
    from dream.wasm.types import HttpRequest, HttpResponse

    made_in_c = recorder()
    assert made_in_c is not None, "the native call extension is not built: run scripts/setup-venv"
    record = made_in_c[0]
    resource = Resource("functions", "fn1", "proj1", "main", "c0", None, {"name": "ping"})
    ready = ReadyFunction(resource, None, "ping", 1.0, 1 << 20, project="proj1", name="ping")  # type: ignore[arg-type]
    through = [(b"host", b"h.example"), (b"x-dream-gateway", b"gw1 7"), (b"content-length", b"3")]
    calls = [
        (HttpRequest("POST", "h.example", "/p", raw_headers=through, body=b"abc"), 201),
        (HttpRequest("GET", "h.example:80", "/q", raw_headers=[[b"x-dream-gateway", b"gw1 8"]]), 200),  # type: ignore[list-item]
        (HttpRequest("GET", "h.example", "/", raw_headers=[(b"host", b"h.example")]), 500),
    ]
    kept = []
    for made_in_c in (False, True):
        front = object.__new__(Front)  # only its ring: what `_record` and its readers use
        front.ring = RequestRing(RECORD_FIELDS)
        for request, status in calls:
            result = (
                None if status == 500 else HttpResponse(status, [], b"PONG", 5, 9, 2, {"eventHttpWrite": 1})
            )
            began = _clock()
            if made_in_c:
                record(front.ring, ready, request, status, result, began)
            else:
                front._record(ready, request, status, result, began)
        assert front.ring.seq == 3
        kept.append(front.ring.after())
    python, native = kept
    for theirs, ours in zip(python, native, strict=True):
        assert theirs.keys() == ours.keys() == set(RECORD_FIELDS)
        assert ours["total_ns"] > 0 and abs(ours["time"] - theirs["time"]) < 60
        assert {**ours, "time": 0, "total_ns": 0} == {**theirs, "time": 0, "total_ns": 0}
    assert [r["via"] for r in native] == ["gw1 7", "gw1 8", ""]
    assert [r["seq"] for r in native] == [1, 2, 3] and native[0]["bytes_in"] == 3
    assert (native[0]["wasm_ns"], native[0]["pages"], native[0]["host_calls"]) == (
        9,
        2,
        {"eventHttpWrite": 1},
    )
    assert (native[2]["status"], native[2]["host_calls"], native[2]["bytes_out"]) == (500, None, 0)
    assert (native[2]["function"], native[2]["project"]) == ("ping", "proj1")


def test_the_record_of_a_served_call_is_the_record_of_its_event() -> None:
    """On the substrate's one-C-call path (`Front._served`) the record is made from the parsed request and
    serve()'s result, in C (`record_served`) or in Python (`Front._record_served`): both keep what
    `_record` keeps of the same call given its HttpRequest and HttpResponse, field for field."""
    from dream.http.message import Request as HttpServerRequest
    from dream.substrate.front import RECORD_FIELDS, Front, _clock, _event
    from dream.substrate.routing import Resource
    from dream.substrate.runner import ReadyFunction
    from dream.wasm.native import recorder
    from dream.wasm.types import HttpResponse

    made_in_c = recorder()
    assert made_in_c is not None, "the native call extension is not built: run scripts/setup-venv"
    record_served = made_in_c[1]
    resource = Resource("functions", "fn1", "proj1", "main", "c0", None, {"name": "ping"})
    ready = ReadyFunction(resource, None, "ping", 1.0, 1 << 20, project="proj1", name="ping")  # type: ignore[arg-type]
    calls = []
    for method, raw_host, path, headers, body, counts in (
        ("POST", b"h.example", "/p", [(b"x-dream-gateway", b"gw1 7"), (b"content-length", b"3")], b"abc",
         {"eventHttpWrite": 1}),
        ("GET", b"h.\xe9xample:80", "/q", [(b"host", b"h.\xe9xample:80")], b"", None),
        ("GET", b"h.example", "/", [(b"x-dream-gateway", b"gw2 1")], b"", {}),
    ):  # fmt: skip
        request = HttpServerRequest()
        request.method, request.path, request.headers, request.body = method, path, headers, body
        served = (201, [(b"x", b"y")], b"PONG!", 5, 9, 2, 0)
        calls.append((request, raw_host, served, counts))
    kept = []
    for way in ("event", "python", "c"):
        front = object.__new__(Front)  # only its ring: what the records and their readers use
        front.ring = RequestRing(RECORD_FIELDS)
        for request, raw_host, served, counts in calls:
            began = _clock()
            if way == "event":  # the record as `_record` makes it from the call's objects
                figures = HttpResponse(served[0], [], served[2], served[3], served[4], served[5], counts)
                front._record(ready, _event(request, raw_host), served[0], figures, began)
            elif way == "python":
                front._record_served(ready, request, raw_host, served, counts, began)
            else:
                record_served(front.ring, ready, request, raw_host, served, counts, began)
        assert front.ring.seq == 3
        kept.append(front.ring.after())
    event, python, native = kept
    for theirs in (event, python):
        for a, b in zip(theirs, native, strict=True):
            assert a.keys() == b.keys() == set(RECORD_FIELDS)
            assert b["total_ns"] > 0 and abs(b["time"] - a["time"]) < 60
            assert {**a, "time": 0, "total_ns": 0} == {**b, "time": 0, "total_ns": 0}
    assert [r["via"] for r in native] == ["gw1 7", "", "gw2 1"]
    assert [r["host"] for r in native] == ["h.example", "h.\xe9xample:80", "h.example"]
    assert (native[0]["bytes_in"], native[0]["bytes_out"], native[0]["status"]) == (3, 5, 201)
    assert [r["host_calls"] for r in native] == [{"eventHttpWrite": 1}, None, {}]
    with pytest.raises(TypeError, match="serve\\(\\)'s 7-tuple"):
        record_served(front.ring, ready, calls[0][0], b"h", (200,), None, began)
    assert front.ring.seq == 3  # nothing was kept of the bad call


def test_read_params_refuse_what_is_not_a_number() -> None:
    assert read_params({}) == (0, 1000)
    assert read_params({"after": "5", "limit": "99999"}) == (5, 1000)
    with pytest.raises(ValueError, match="`after` must be a whole number, not 'x'"):
        read_params({"after": "x"})
    with pytest.raises(ValueError, match="`limit` must not be negative"):
        read_params({"limit": "-1"})


def _records(cloud: UniverseHandle, **kw: Any) -> list[dict[str, Any]]:
    return list(cloud.client.inspect(cloud.name, **kw)["requests"])


def test_calls_are_recorded_with_their_cost_and_their_way_in(
    console_cloud: UniverseHandle, pushed: dict[str, Any], dream_daemon: DaemonProcess
) -> None:
    fqdn = pushed["fqdn"]
    start = time.time()
    direct = f"http://127.0.0.1:{console_cloud.port('substrate')}/ping"
    through = f"http://127.0.0.1:{console_cloud.port('gateway')}/ping"
    for _ in range(3):  # the first goes the ASGI way, the next ones the fast path
        assert httpx.get(direct, headers={"host": fqdn}).text == "PONG"
    answer = httpx.post(through, headers={"host": fqdn}, content=b"hello")
    assert answer.status_code == 405
    assert httpx.get(through, headers={"host": fqdn}).text == "PONG"
    # With a body, the gateway's upstream client adds content-length after its own header.
    assert httpx.request("GET", through, headers={"host": fqdn}, content=b"hello").text == "PONG"
    assert httpx.get(through, headers={"host": "nothing.example"}).status_code >= 400

    records = wait_for(
        lambda: (found := _records(console_cloud, since=start)) and len(found) >= 7 and found,
        timeout=15,
        what="seven records",
    )
    calls = [r for r in records if r["function"] == "ping_pong"]
    assert len(calls) == 5
    substrate = console_cloud.node("substrate")["id"]
    gateway = console_cloud.node("gateway")["id"]
    for record in calls:
        assert record["host"] == fqdn and record["path"] == "/ping"
        assert record["substrate"] == substrate and record["project"] == pushed["id"]
        assert record["total_ms"] > 0
    direct_calls = [r for r in calls if r["gateway"] is None]
    assert len(direct_calls) == 3 and all(r["status"] == 200 for r in direct_calls)
    fast = direct_calls[-1]
    assert fast["wasm_ms"] > 0 and fast["instantiate_ms"] > 0 and fast["pages"] >= 1
    assert fast["host_calls"]["eventHttpWrite"] >= 1 and fast["bytes_out"] == 4 and fast["bytes_in"] == 0
    got, with_body = [r for r in calls if r["gateway"] is not None]
    for record in (got, with_body):
        assert record["gateway_ms"] is not None and record["gateway_ms"] >= record["total_ms"]
        assert record["gateway"] == gateway and record["status"] == 200
    assert (got["bytes_in"], with_body["bytes_in"]) == (0, 5)
    # The function takes GET only: the substrate refuses the POST before any call, so only the gateway
    # has a record of it, naming the substrate that answered.
    (posted,) = [r for r in records if r["method"] == "POST"]
    assert (posted["status"], posted["function"], posted["substrate"]) == (405, None, substrate)
    # What the gateway could not hand to a function is its own record.
    (lost,) = [r for r in records if r["host"] == "nothing.example"]
    assert lost["gateway"] == gateway and lost["status"] >= 400 and lost["function"] is None

    only = _records(console_cloud, since=start, function="nope")
    assert only == []

    cli = [sys.executable, "-m", "dream", "inspect", "-u", console_cloud.name]
    shown = subprocess.run(cli, env=dream_daemon.env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert (
        f"{fqdn}/ping" in shown.stdout and "fn ping_pong" in shown.stdout and f"via {gateway}" in shown.stdout
    )
    as_json = subprocess.run(
        [*cli, "--json", "-n", "2"], env=dream_daemon.env, capture_output=True, text=True, timeout=60
    )
    lines = [json.loads(x) for x in as_json.stdout.splitlines()]
    assert len(lines) == 2 and lines[-1]["host"] == "nothing.example"


def test_follow_prints_new_requests_as_they_come(
    console_cloud: UniverseHandle, pushed: dict[str, Any], dream_daemon: DaemonProcess
) -> None:
    cli = [
        sys.executable,
        "-m",
        "dream",
        "inspect",
        "-u",
        console_cloud.name,
        "--follow",
        "--json",
        "-n",
        "1",
    ]
    with subprocess.Popen(cli, env=dream_daemon.env, stdout=subprocess.PIPE, text=True) as follower:
        try:
            assert follower.stdout is not None
            first = json.loads(follower.stdout.readline())  # the newest record so far
            url = f"http://127.0.0.1:{console_cloud.port('substrate')}/ping?n=followed"
            assert httpx.get(url, headers={"host": pushed["fqdn"]}).text == "PONG"
            later = json.loads(follower.stdout.readline())
            assert later["time"] > first["time"] and later["path"] == "/ping"
        finally:
            follower.terminate()


def test_bad_input_is_a_sentence(console_cloud: UniverseHandle, dream_daemon: DaemonProcess) -> None:
    url = dream_daemon.url
    unknown = httpx.get(f"{url}/inspect/nowhere")
    assert unknown.status_code == 400 and unknown.json()["error"] == "universe `nowhere` does not exist"
    bad = httpx.get(f"{url}/inspect/{console_cloud.name}", params={"since": "yesterday"})
    assert bad.status_code == 400 and "`since` must be a time in seconds" in bad.json()["error"]
    bad = httpx.get(f"{url}/inspect/{console_cloud.name}", params={"limit": "0"})
    assert bad.status_code == 400 and "`limit` must be a whole number from 1 to 1000" in bad.json()["error"]
    assert dream_daemon.client().ping()


def test_the_ring_size_and_the_switch_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from dream.http.records import make_ring, ring_size

    monkeypatch.setenv("DREAM_INSPECT_RING", "3")
    assert ring_size() == 3
    ring = make_ring(("seq", "time"))
    assert ring is not None and ring.size == 3
    monkeypatch.setenv("DREAM_INSPECT_RING", "none")
    with pytest.raises(
        ValueError, match="DREAM_INSPECT_RING='none' is not a positive whole number of records"
    ):
        ring_size()
    monkeypatch.setenv("DREAM_INSPECT", "0")
    assert make_ring(("seq", "time")) is None


def test_with_the_inspector_off_the_nodes_keep_no_records(
    tmp_path_factory: pytest.TempPathFactory, dream_cache: Any
) -> None:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DREAM_INSPECT", "0")  # read by the nodes, which inherit the daemon's environment
        daemon = DaemonProcess(tmp_path_factory.mktemp("inspect-off"), cache=dream_cache).start()
    try:
        client = daemon.client()
        client.new_universe(
            "quiet", {"Services": {"tns": {}, "seer": {}, "substrate": {}, "gateway": {}}, "Simples": {}}
        )
        answer = client.inspect("quiet")
        assert answer["requests"] == []
        assert len(answer["errors"]) == 2
        for problem in answer["errors"]:
            assert "the request inspector is off on this node (DREAM_INSPECT=0)" in problem
    finally:
        daemon.stop()
