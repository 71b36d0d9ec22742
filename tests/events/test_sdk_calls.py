"""The function SDK beyond the HTTP event, with upstream-style Go functions built by monkey: `self`,
`crypto/rand`, the HTTP client reaching a local test server (methods, headers, bodies, response
headers and a body read in chunks), another function of the universe by its generated domain, a closed
port and a server slower than the function's timeout; p2p commands answered by another function on
each of two substrates."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from dream.testing.harness import UniverseHandle
from dream.wasm.httpclient import MAX_REDIRECTS

pytestmark = pytest.mark.e2e

CALLS = Path(__file__).parent / "projects" / "calls"
HOST = {"host": "calls.events.com"}
PROJECT = "QmEventsCallsProject00000000000000000000000001"
SHAPE = {
    "Services": {"tns": {}, "hoarder": {}, "seer": {}, "substrate": {"Others": {"copies": 2}}},
    "Simples": {},
}
BIG = bytes(range(256)) * 40  # 10240 bytes: read back in 1000-byte chunks


class Recorder(BaseHTTPRequestHandler):
    """A local server that records what it gets and answers with two X-Reply headers and BIG."""

    seen: list[dict[str, Any]] = []
    released = threading.Event()  # set by the test once a call of /slow has its answer

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "x-test": self.headers.get_all("X-Test"),
                "x-single": self.headers.get("X-Single"),
                "body": body,
            }
        )
        if self.path.startswith("/slow"):
            # Slower than the calling function's timeout: held until the test has its answer (30 s at most).
            self.released.wait(30)
        if self.path.startswith("/hops/"):  # /hops/N redirects to /hops/N-1, down to /hops/0
            hops = int(self.path.rsplit("/", 1)[1])
            if hops > 0:
                self.send_response(302)
                self.send_header("Location", f"/hops/{hops - 1}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        self.send_response(201)
        self.send_header("X-Reply", "one")
        self.send_header("X-Reply", "two")
        self.send_header("Content-Length", str(len(BIG)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(BIG)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def generated_domain(universe: str) -> str:
    return f"{PROJECT[-8:].lower()}.g.{universe}.localtau"


@pytest.fixture(scope="module")
def calls(module_universe_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> UniverseHandle:
    universe: UniverseHandle = module_universe_factory("events", config=SHAPE)
    # goself is also served on the universe's generated domain of the project, known once it exists.
    project = tmp_path_factory.mktemp("calls") / "calls"
    shutil.copytree(CALLS, project)
    (project / "config" / "domains" / "generated.yaml").write_text(
        f"id: QmEventsCallsDomainGenerated0000000000000001\nfqdn: {generated_domain(universe.name)}\n"
    )
    config = project / "config" / "functions" / "goself.yaml"
    config.write_text(config.read_text().replace("  - calls\n", "  - calls\n  - generated\n"))
    universe.client.fixture(universe.name, "buildLocalProject", ["", "", str(project), ""])
    return universe


def substrate(universe: UniverseHandle) -> str:
    return f"http://127.0.0.1:{universe.port('substrate')}"


def fetch(universe: UniverseHandle, url: str, method: str = "POST", body: bytes = b"") -> httpx.Response:
    return httpx.post(
        f"{substrate(universe)}/fetch",
        params={"url": url, "method": method},
        content=body,
        headers=HOST,
        timeout=30,
    )


def test_self_values_are_the_function_s_own(calls: UniverseHandle) -> None:
    answer = httpx.get(f"{substrate(calls)}/self", headers=HOST, timeout=60)
    assert answer.status_code == 200, answer.text
    project, application, function, branch, commit = answer.text.split("|")
    assert project == PROJECT
    assert application == ""
    assert function == "QmEventsCallsFunctiongoself0000000000000000001"
    assert branch in ("main", "master")
    assert commit  # the commit the build was published at


def test_random_bytes_differ(calls: UniverseHandle) -> None:
    seen = {httpx.get(f"{substrate(calls)}/rand", headers=HOST, timeout=60).text for _ in range(5)}
    assert len(seen) == 5
    assert all(len(v) == 64 and int(v, 16) >= 0 for v in seen)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "GET"])
def test_http_client_sends_method_headers_and_body(calls: UniverseHandle, server: str, method: str) -> None:
    Recorder.seen.clear()
    body = f"payload for {method}".encode()
    answer = fetch(calls, f"{server}/echo?x=1", method, body)
    assert answer.status_code == 200, answer.text
    got, reply, names, chunks, rest = answer.content.split(b"\n", 4)
    assert got.decode() == method
    assert reply == b"one,two"
    assert b"X-Reply" in names.split(b",") and b"Content-Length" in names.split(b",")
    assert int(chunks) >= len(BIG) // 1000  # the body came in pieces no bigger than the guest's buffer
    assert rest == BIG
    (seen,) = Recorder.seen
    assert seen["method"] == method and seen["path"] == "/echo?x=1"
    assert seen["x-test"] == ["a", "b"] and seen["x-single"] == "one"
    assert seen["body"] == body


def test_http_client_reaches_another_function_by_its_generated_domain(calls: UniverseHandle) -> None:
    answer = fetch(calls, f"http://{generated_domain(calls.name)}/self", "GET")
    assert answer.status_code == 200, answer.text
    assert answer.content.split(b"\n", 4)[4].startswith(PROJECT.encode() + b"||")


def test_http_client_to_a_closed_port_gets_errno_13_and_serving_goes_on(calls: UniverseHandle) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    answer = fetch(calls, f"http://127.0.0.1:{port}/", "GET")
    assert answer.status_code == 502
    assert "http request failed" in answer.text
    assert httpx.get(f"{substrate(calls)}/self", headers=HOST, timeout=30).status_code == 200
    assert f"connection refused by 127.0.0.1:{port}" in node_logs(calls)


def test_http_client_stops_at_the_function_s_timeout(calls: UniverseHandle, server: str) -> None:
    started = time.monotonic()
    try:
        answer = fetch(calls, f"{server}/slow", "GET")  # the server holds it up to 30s; gofetch may run 2s
    finally:
        Recorder.released.set()
    took = time.monotonic() - started
    assert answer.status_code in (502, 504), answer.text
    assert took < 10  # its timeout (2 s) stopped it, not the server's answer
    assert httpx.get(f"{substrate(calls)}/rand", headers=HOST, timeout=30).status_code == 200


def node_logs(universe: UniverseHandle) -> str:
    root = Path(universe.client.status()[universe.name]["root"])
    return "".join(p.read_text(errors="replace") for p in root.rglob("node.log"))


# -- p2p -------------------------------------------------------------------------------------------------


def p2p(universe: UniverseHandle, url: str = "", **params: str) -> httpx.Response:
    base = {"protocol": "/echo/v1", "command": "say", "data": "hello"}
    return httpx.get(f"{url or substrate(universe)}/p2p", params={**base, **params}, headers=HOST, timeout=60)


def substrate_ids(universe: UniverseHandle) -> list[str]:
    return sorted(n["id"] for n in universe.nodes() if n["name"].startswith("substrate@"))


def test_a_p2p_command_is_answered_by_the_handler_on_each_substrate(calls: UniverseHandle) -> None:
    answer = p2p(calls, each="1")
    assert answer.status_code == 200, answer.text
    lines = answer.text.split("\n")
    ids = substrate_ids(calls)
    assert len(ids) == 2
    # discovered both copies, and each ran the handler: the answer names the node it ran on
    assert sorted(line.rsplit(" on ", 1)[1] for line in lines) == ids
    for line in lines:
        assert line.startswith("/echo/v1 say hello from ")
    # Send (no node named) takes the copies in turn
    ran = {p2p(calls).text.rsplit(" on ", 1)[1] for _ in range(4)}
    assert ran == set(ids)
    assert "handled by function `p2pecho`" in node_logs(calls)


def test_p2p_bad_input_gets_upstream_s_errno_and_serving_goes_on(calls: UniverseHandle) -> None:
    nobody = p2p(calls, protocol="/nobody/v1")
    assert nobody.status_code == 502 and "p2p protocol not found" in nobody.text  # errno 45
    unhandled = p2p(calls, command="shout")
    assert unhandled.status_code == 502 and "p2p command not found" in unhandled.text  # errno 44
    logs = node_logs(calls)
    assert "no service of project QmEventsCallsProject00000000000000000000000001 has it" in logs
    assert (
        "no function of project `QmEventsCallsProject00000000000000000000000001` handles command `shout`"
        in logs
    )
    for _ in range(2):  # the handler traps, on either copy: errno 43 (ErrorP2PSendFailed)
        trapped = p2p(calls, data="boom")
        assert trapped.status_code == 502 and "p2p send failed" in trapped.text
    assert "function `p2pecho` trapped" in node_logs(calls)
    listen = p2p(calls, listen="1")
    assert listen.status_code == 200 and re.fullmatch(r"/Qm\w{44}/echo/v1", listen.text)
    assert p2p(calls).status_code == 200


# -- dns -------------------------------------------------------------------------------------------------


class _Outside:
    """A DNS server standing for the outside world: TXT and MX of outside.test."""

    def resolve(self, request: Any, handler: Any) -> Any:
        from dnslib import MX, QTYPE, RCODE, RR, TXT

        reply = request.reply()
        if str(request.q.qname).rstrip(".") != "outside.test":
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.TXT:
            reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT("v=outside"), ttl=5))
        elif request.q.qtype == QTYPE.MX:
            reply.add_answer(RR(request.q.qname, QTYPE.MX, rdata=MX("mail.outside.test", 10), ttl=5))
            reply.add_answer(RR(request.q.qname, QTYPE.MX, rdata=MX("backup.outside.test", 20), ttl=5))
        return reply


@pytest.fixture(scope="module")
def outside_dns() -> Iterator[str]:
    from dnslib.server import DNSServer

    from dream.daemon.ports import free_port

    port = free_port()
    server = DNSServer(_Outside(), port=port, address="127.0.0.1")  # type: ignore[arg-type]
    server.start_thread()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()


def lookup(universe: UniverseHandle, kind: str, name: str, server: str = "") -> httpx.Response:
    params = {"kind": kind, "name": name, "server": server}
    return httpx.get(f"{substrate(universe)}/dns", params=params, headers=HOST, timeout=60)


def test_dns_answers_the_universe_s_names_from_seer(calls: UniverseHandle) -> None:
    txt = lookup(calls, "txt", "calls.events.com")  # a domain of the project: seer knows it
    assert (txt.status_code, txt.text) == (200, "HTTP-serving nodes")
    generated = generated_domain(calls.name)
    cname = lookup(calls, "cname", generated)
    assert (cname.status_code, cname.text) == (200, generated + ".")  # no CNAME: its own canonical name
    unknown = lookup(calls, "txt", f"a.b.nothing.{calls.name}.localtau")
    assert unknown.status_code == 502 and "TXT lookup failed" in unknown.text  # errno 102


def test_dns_rerouted_to_another_server_and_reverse_lookups(calls: UniverseHandle, outside_dns: str) -> None:
    assert lookup(calls, "txt", "outside.test", outside_dns).text == "v=outside"
    mx = lookup(calls, "mx", "outside.test", outside_dns)
    assert (mx.status_code, mx.text) == (200, "mail.outside.test. 10\nbackup.outside.test. 20")
    missing = lookup(calls, "mx", "elsewhere.test", outside_dns)
    assert missing.status_code == 502 and "MX lookup failed" in missing.text  # errno 105
    reverse = lookup(calls, "address", "127.0.0.1")  # the machine's own resolver (hosts file)
    assert reverse.status_code == 200 and "localhost." in reverse.text.split("\n")


def test_http_client_follows_redirects_up_to_the_limit(calls: UniverseHandle, server: str) -> None:
    Recorder.seen.clear()
    answer = fetch(calls, f"{server}/hops/{MAX_REDIRECTS}", "GET")
    assert answer.status_code == 200, answer.text
    assert answer.content.split(b"\n", 4)[4] == BIG
    assert [s["path"] for s in Recorder.seen][-1] == "/hops/0"
    too_many = fetch(calls, f"{server}/hops/{MAX_REDIRECTS + 1}", "GET")
    assert too_many.status_code == 502 and "http request failed" in too_many.text
    assert f"stopped after {MAX_REDIRECTS} redirects" in node_logs(calls)


def test_go_sdk_memory_views_and_fifos(calls: UniverseHandle) -> None:
    answer = httpx.get(f"{substrate(calls)}/i2mv", headers=HOST, timeout=60)
    assert (answer.status_code, answer.text) == (200, "viewed bytes / fifo")
