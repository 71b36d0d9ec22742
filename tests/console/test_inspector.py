"""The request inspector end to end: requests to a function, direct and through the gateway, recorded by
the substrate and the gateway, joined by the daemon (`GET /inspect/{u}`), shown by `dream inspect`."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from dream.http.records import (
    CUT,
    HOST_BYTES,
    INSPECT_RING,
    INSPECT_RING_MAX,
    METHOD_BYTES,
    PATH_BYTES,
    VIA_BYTES,
    RequestRing,
    SlotRing,
    clip,
    read_params,
)
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


def _ready() -> Any:
    from dream.substrate.routing import Resource
    from dream.substrate.runner import ReadyFunction

    resource = Resource("functions", "fn1", "proj1", "main", "c0", None, {"name": "ping"})
    return ReadyFunction(resource, None, "ping", 1.0, 1 << 20, project="proj1", name="ping")  # type: ignore[arg-type]


def _front(native: bool) -> Any:
    """A Front with only its ring and record functions, bound as a substrate binds them: the native
    extension's ring of C records, or the Python ring and `_record`/`_record_served`."""
    from dream.substrate.front import Front
    from dream.wasm.native import record_ring

    ring = record_ring()
    assert ring is not None, "the native call extension is not built: run scripts/setup-venv"
    front = object.__new__(Front)
    front.keep_records(native=ring if native else None)
    assert isinstance(front.ring, SlotRing if native else RequestRing)
    return front


def _alike(theirs: list[dict[str, Any]], ours: list[dict[str, Any]]) -> None:
    """The same records, field for field, but for the clock's readings (`time` within a minute)."""
    from dream.substrate.front import RECORD_FIELDS

    assert len(theirs) == len(ours)
    for a, b in zip(theirs, ours, strict=True):
        assert list(a) == list(b) == list(RECORD_FIELDS)
        assert b["total_ns"] > 0 and abs(b["time"] - a["time"]) < 60
        assert {**a, "time": 0, "total_ns": 0} == {**b, "time": 0, "total_ns": 0}
        assert a["host_calls"] is None or list(a["host_calls"]) == list(b["host_calls"])  # the same order


def test_the_record_made_in_c_is_the_record_python_makes() -> None:
    """The native ring's `record` (what a substrate uses when the extension is built) keeps every field
    `Front._record` keeps, alike: a call through a gateway, one straight in, a failed one, and one whose
    host calls were partly made in Python (its counts kept as given)."""
    from dream.substrate.front import _clock
    from dream.wasm.types import HttpRequest, HttpResponse

    ready = _ready()
    through = [(b"host", b"h.example"), (b"x-dream-gateway", b"gw1 7"), (b"content-length", b"3")]
    calls = [
        (HttpRequest("POST", "h.example", "/p", raw_headers=through, body=b"abc"), 201, {"eventHttpWrite": 1}),
        (HttpRequest("GET", "h.example:80", "/q", raw_headers=[[b"x-dream-gateway", b"gw1 8"]]), 200, {}),  # type: ignore[list-item]
        (HttpRequest("GET", "h.example", "/", raw_headers=[(b"host", b"h.example")]), 500, None),
        (HttpRequest("GET", "h.example", "/db"), 200, {"databaseGet": 2, "getEventType": 1, "eventHttpWrite": 1}),
    ]  # fmt: skip
    kept = []
    for native in (False, True):
        front = _front(native)
        for request, status, counts in calls:
            result = None if status == 500 else HttpResponse(status, [], b"PONG", 5, 9, 2, counts)
            front._record(ready, request, status, result, _clock())
        assert front.ring.seq == 4
        kept.append(front.ring.after())
    python, native = kept
    _alike(python, native)
    assert [r["via"] for r in native] == ["gw1 7", "gw1 8", "", ""]
    assert [r["seq"] for r in native] == [1, 2, 3, 4] and native[0]["bytes_in"] == 3
    assert (native[0]["wasm_ns"], native[0]["pages"], native[0]["host_calls"]) == (
        9,
        2,
        {"eventHttpWrite": 1},
    )
    assert (native[2]["status"], native[2]["host_calls"], native[2]["bytes_out"]) == (500, None, 0)
    assert (native[2]["function"], native[2]["project"]) == ("ping", "proj1")
    assert list(native[3]["host_calls"]) == ["databaseGet", "getEventType", "eventHttpWrite"]


def _served_calls() -> list[tuple[Any, bytes, Any, dict[str, int] | None]]:
    from dream.http.message import Request as HttpServerRequest

    calls = []
    for method, raw_host, path, headers, body, counts in (
        ("POST", b"h.example", "/p", [(b"x-dream-gateway", b"gw1 7"), (b"content-length", b"3")], b"abc",
         {"getEventType": 1, "eventHttpWrite": 1}),
        ("GET", b"h.\xe9xample:80", "/q\u00e9", [(b"host", b"h.\xe9xample:80")], b"", None),
        ("GET", b"h.example", "/", [(b"x-dream-gateway", b"gw2 1")], b"", {}),
    ):  # fmt: skip
        request = HttpServerRequest()
        request.method, request.path, request.headers, request.body = method, path, headers, body
        calls.append((request, raw_host, (201, [(b"x", b"y")], b"PONG!", 5, 9, 2, 0), counts))
    return calls


def test_the_record_of_a_served_call_is_the_record_of_its_event() -> None:
    """On the substrate's one-C-call path (`Front._served`) the record is made from the parsed request and
    serve()'s result, into the native ring (`Ring.served`) or in Python (`Front._record_served`): both
    keep what `_record` keeps of the same call given its HttpRequest and HttpResponse, field for field."""
    from dream.substrate.front import _clock, _event
    from dream.wasm.types import HttpResponse

    ready = _ready()
    kept = []
    for way in ("event", "python", "c"):
        front = _front(way == "c")
        for request, raw_host, served, counts in _served_calls():
            began = _clock()
            if way == "event":  # the record as `_record` makes it from the call's objects
                figures = HttpResponse(served[0], [], served[2], served[3], served[4], served[5], counts)
                front._record(ready, _event(request, raw_host), served[0], figures, began)
            else:
                front._record_served(ready, request, raw_host, served, counts, began)
        assert front.ring.seq == 3
        kept.append(front.ring.after())
    event, python, native = kept
    _alike(event, native)
    _alike(python, native)
    assert [r["via"] for r in native] == ["gw1 7", "", "gw2 1"]
    assert [r["host"] for r in native] == ["h.example", "h.\xe9xample:80", "h.example"]
    assert native[1]["path"] == "/q\u00e9"
    assert (native[0]["bytes_in"], native[0]["bytes_out"], native[0]["status"]) == (3, 5, 201)
    assert [r["host_calls"] for r in native] == [{"getEventType": 1, "eventHttpWrite": 1}, None, {}]
    request, raw_host, _, _ = _served_calls()[0]
    with pytest.raises(TypeError, match="serve\\(\\)'s 7-tuple"):
        front._record_served(ready, request, raw_host, (200,), None, _clock())
    with pytest.raises(TypeError, match="str or bytes, not int"):
        request.path = 7
        front._record_served(ready, request, raw_host, _served_calls()[0][2], None, _clock())
    assert front.ring.seq == 3  # nothing was kept of the bad calls


def test_a_served_call_leaves_its_counts_in_the_native_ring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the native ring as the host-call counts' sink (what a substrate with it sets), a call answered
    in one C call makes no dict of counts: its record has the counts a dict would have had."""
    import wasmtime

    from dream.substrate.front import _clock
    from dream.wasm import WasmHost, hostcall, native
    from dream.wasm.callpath import ENV as CALL_PATH_ENV

    if native.load()[0] is None:
        pytest.skip(native.load()[1])
    monkeypatch.setenv(CALL_PATH_ENV, "native")
    front = _front(True)
    ready = _ready()
    request, host, _, _ = _served_calls()[0]
    ping = Path(__file__).parents[1] / "substrate" / "wat" / "ping.wat"
    with WasmHost(tmp_path) as wasm:
        module = wasm.load("ping", wasmtime.wat2wasm(ping.read_text()), name="functions/ping")
        serve = module.server("ping")
        assert serve is not None
        given = []
        for sink in (None, front.count_sink, front.count_sink):
            hostcall.count_calls(True, sink)
            try:
                served, counts = module.serve(
                    serve, "ping", b"GET", host, b"/ping", timeout=5, memory_limit=1 << 24
                )
            finally:
                hostcall.count_calls(False)
            given.append(counts)
            front._record_served(ready, request, host, served, counts, _clock())
    assert isinstance(given[0], dict) and given[1] is given[2] is front.count_sink
    by_dict, *by_ring = front.ring.after()
    assert len(by_dict["host_calls"]) == 6 and by_dict["pages"] >= 1 and by_dict["bytes_out"] == 4
    for record in by_ring:
        assert list(record["host_calls"].items()) == list(by_dict["host_calls"].items())
        assert (record["pages"], record["status"], record["bytes_out"]) == (by_dict["pages"], 200, 4)


def test_a_long_text_is_cut_at_its_limit_alike_in_c_and_in_python() -> None:
    """Each text of a substrate's record is kept to TEXT_BYTES bytes of UTF-8: one that fits exactly is
    whole, one byte more is cut at a character boundary and ends in CUT, in the C ring as in Python."""
    from dream.substrate.front import _clock

    ready = _ready()
    calls = _served_calls()
    request, _, served, counts = calls[0]
    texts = []
    for most in (PATH_BYTES, PATH_BYTES + 1, 100_000):
        for tail in ("a", "\u00e9", "\u20ac", "\U0001f600"):  # characters of 1 to 4 bytes end the path
            path = "/" + "p" * (most - 1 - len(tail.encode())) + tail
            texts.append((path, (b"h" * (most // 2) + b"\xe9" * (most // 4))[: most + 3]))
    kept = []
    for native in (False, True):
        front = _front(native)
        for path, host in texts:
            request.path = path
            request.headers = [(b"x-dream-gateway", b"g" * (VIA_BYTES + 1))]
            front._record_served(ready, request, host, served, counts, _clock())
        kept.append(front.ring.after())
    python, native = kept
    _alike(python, native)
    for (path, host), record in zip(texts, native, strict=True):
        fits = len(path.encode()) <= PATH_BYTES
        assert record["path"] == (path if fits else clip(path, PATH_BYTES))
        assert len(record["path"].encode()) <= PATH_BYTES and record["path"].endswith(CUT) != fits
        assert path.startswith(record["path"].removesuffix(CUT))
        assert record["host"] == clip(host.decode("latin-1"), HOST_BYTES)
        assert len(record["host"].encode()) <= HOST_BYTES
        assert record["via"] == "g" * (VIA_BYTES - 3) + CUT
    assert clip("a\u20acc", 5) == "a\u20acc" and clip("a\u20accd", 5) == "a" + CUT  # never half a character


@pytest.mark.parametrize(
    ("field", "most"), [("method", METHOD_BYTES), ("host", HOST_BYTES), ("via", VIA_BYTES)]
)
def test_each_text_is_kept_whole_up_to_its_limit(field: str, most: int) -> None:
    from dream.substrate.front import _clock

    ready = _ready()
    request, host, served, counts = _served_calls()[0]
    for native in (False, True):
        front = _front(native)
        for size in (most, most + 1):
            text = "x" * (size - 2) + "\u00e9"  # é: two bytes of UTF-8 (one of latin-1) at the end
            if field == "method":
                request.method = text
            elif field == "host":
                host = text.encode("latin-1")
            else:
                request.headers = [(b"x-dream-gateway", text.encode("latin-1"))]
            front._record_served(ready, request, host, served, counts, _clock())
        whole, cut = (r[field] for r in front.ring.after())
        assert whole == "x" * (most - 2) + "\u00e9"
        assert cut == "x" * (most - 3) + CUT and len(cut.encode()) == most


def test_the_native_ring_wraps_around_keeping_the_newest() -> None:
    from dream.substrate.front import _clock
    from dream.wasm.native import record_ring

    native = record_ring()
    assert native is not None
    ring = SlotRing(("seq",), native(5, METHOD_BYTES, HOST_BYTES, PATH_BYTES, VIA_BYTES))
    ready = _ready()
    request, host, served, _ = _served_calls()[0]
    assert ring.after() == [] and ring.seq == 0
    for n in range(1, 13):
        request.path = f"/{n}"
        ring.slots.served(ready, request, host, served, {"eventHttpWrite": n}, _clock())
        got = ring.slots.read(0, 100)
        assert [r[0] for r in got] == list(range(max(1, n - 4), n + 1))  # the last five, oldest first
        assert [r[4] for r in got] == [f"/{s}" for s in range(max(1, n - 4), n + 1)]
        assert [r[10] for r in got] == [{"eventHttpWrite": s} for s in range(max(1, n - 4), n + 1)]
    assert [r[0] for r in ring.slots.read(9, 100)] == [10, 11, 12]
    assert [r[0] for r in ring.slots.read(0, 2)] == [11, 12]
    assert ring.slots.read(12, 100) == [] and ring.slots.read(0, 0) == []
    assert ring.size == 5 and ring.seq == 12
    with pytest.raises(ValueError, match="a ring holds at least one record, not 0"):
        native(0, METHOD_BYTES, HOST_BYTES, PATH_BYTES, VIA_BYTES)
    with pytest.raises(ValueError, match="a record's text holds 4 to 65535 bytes, not 3"):
        native(5, 3, HOST_BYTES, PATH_BYTES, VIA_BYTES)


def test_a_path_with_a_lone_surrogate_is_kept_as_it_was() -> None:
    """A path str that is not valid UTF-8 (a lone surrogate) goes through the C ring unchanged, as it goes
    through the Python one."""
    from dream.substrate.front import _clock

    ready = _ready()
    request, host, served, counts = _served_calls()[0]
    request.path = "/a\udcff" + "b" * PATH_BYTES
    kept = []
    for native in (False, True):
        front = _front(native)
        front._record_served(ready, request, host, served, counts, _clock())
        kept.append(front.ring.after())
    _alike(*kept)
    assert kept[1][0]["path"] == clip(request.path, PATH_BYTES) and kept[1][0]["path"].startswith("/a\udcffb")


def test_reads_while_serving_see_whole_records() -> None:
    """A reader on another thread while records are written: every record it gets is whole (its path is
    the one written with its number), numbered one after the other."""
    from dream.substrate.front import _clock

    front = _front(True)
    ready = _ready()
    request, host, served, counts = _served_calls()[0]
    seen: list[int] = []
    problems: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            records = front.ring.after(0, 1000)
            numbers = [r["seq"] for r in records]
            if numbers != list(range(numbers[0], numbers[0] + len(numbers))) if numbers else False:
                problems.append(f"not one after the other: {numbers}")
            problems.extend(f"{r['seq']}: {r['path']}" for r in records if r["path"] != f"/{r['seq']}")
            seen.append(len(records))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads as often as can be
    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(1, 20_001):
            request.path = f"/{n}"
            front._record_served(ready, request, host, served, counts, _clock())
    finally:
        done.set()
        reader.join(timeout=60)
        sys.setswitchinterval(interval)
    assert not reader.is_alive() and problems == [] and len(seen) > 1
    assert front.ring.seq == 20_000 and len(front.ring.after(0, 1000)) == INSPECT_RING


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
    from dream.http.records import make_ring, make_slot_ring, ring_size
    from dream.substrate.front import RECORD_FIELDS, Front
    from dream.wasm.native import record_ring

    monkeypatch.setenv("DREAM_INSPECT_RING", "3")
    assert ring_size() == 3
    ring = make_ring(("seq", "time"))
    assert ring is not None and ring.size == 3
    monkeypatch.setenv("DREAM_INSPECT_RING", "none")
    with pytest.raises(
        ValueError, match="DREAM_INSPECT_RING='none' is not a positive whole number of records"
    ):
        ring_size()
    monkeypatch.setenv("DREAM_INSPECT_RING", str(INSPECT_RING_MAX))
    native = record_ring()
    assert native is not None
    ring = make_slot_ring(RECORD_FIELDS, native)  # the most records: allocated, touched as they come
    assert ring is not None and ring.size == INSPECT_RING_MAX and ring.after() == []
    monkeypatch.setenv("DREAM_INSPECT_RING", str(INSPECT_RING_MAX + 1))
    with pytest.raises(ValueError, match="DREAM_INSPECT_RING='100001' is more records than a node keeps"):
        ring_size()
    monkeypatch.setenv("DREAM_INSPECT", "0")
    assert make_ring(("seq", "time")) is None
    assert make_slot_ring(RECORD_FIELDS, native) is None
    front = object.__new__(Front)
    front.keep_records(native=native)
    assert front.ring is None


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
