"""`dream new project --template fanout` and `--template chat`: the templates render into a project that
builds (Go, by monkey's builders) and works: the fanout's HTTP function publishes and its pub-sub
function records; the chat's room gives a websocket path whose clients get the answering function's
replies. The Rust and AssemblyScript SDKs publish and make HTTP requests."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from dream.projects import languages, render
from dream.tcc.ids import new_resource_id
from dream.testing.harness import UniverseHandle, wait_for

pytestmark = pytest.mark.e2e

SHAPE = {"Services": {"tns": {}, "hoarder": {}, "seer": {}, "substrate": {}}, "Simples": {}}


@pytest.fixture(scope="module")
def universe(module_universe_factory: Any) -> UniverseHandle:
    made: UniverseHandle = module_universe_factory("templates", config=SHAPE)
    return made


def deploy(universe: UniverseHandle, tmp: Path, template: str) -> tuple[str, str]:
    """Render `template` (Go) as a new project and build it: (its substrate URL, its host)."""
    project_id = new_resource_id()
    fqdn = f"{project_id[-8:].lower()}.g.{universe.name}.localtau"
    root = tmp / template
    render(root, name=template, project_id=project_id, fqdn=fqdn, template=template, lang="go")
    universe.client.fixture(universe.name, "buildLocalProject", ["", "", str(root), ""])
    return f"http://127.0.0.1:{universe.port('substrate')}", fqdn


def test_the_event_templates_are_in_go() -> None:
    assert "go" in languages("fanout") and "go" in languages("chat")


def test_fanout_template_publishes_and_records(universe: UniverseHandle, tmp_path: Path) -> None:
    url, fqdn = deploy(universe, tmp_path, "fanout")
    host = {"host": fqdn}
    answer = httpx.post(f"{url}/publish", content=b"order-1", headers=host, timeout=60)
    assert (answer.status_code, answer.text) == (200, "published\n")
    wait_for(
        lambda: httpx.get(f"{url}/seen", headers=host, timeout=60).text == "order-1\n",
        "the record function to keep the message",
        timeout=30,
    )


def test_chat_template_answers_websocket_clients(universe: UniverseHandle, tmp_path: Path) -> None:
    from websockets.asyncio.client import connect

    url, fqdn = deploy(universe, tmp_path, "chat")
    path = httpx.get(f"{url}/room", params={"name": "lobby"}, headers={"host": fqdn}, timeout=60)
    assert path.status_code == 200, path.text

    async def chat() -> tuple[bytes, bytes]:
        ws = url.replace("http://", "ws://") + path.text.strip()
        async with connect(ws) as alice, connect(ws) as bob:
            await alice.send(b"hello")
            heard_by_bob = bytes(await asyncio.wait_for(bob.recv(), 30))
            answer = bytes(await asyncio.wait_for(alice.recv(), 30))
            return heard_by_bob, answer

    assert asyncio.run(chat()) == (b"hello", b"bot: heard hello")


# -- the Rust and AssemblyScript SDKs ----------------------------------------------------------------------

POLYGLOT = Path(__file__).parent / "projects" / "polyglot"
POLYGLOT_HOST = {"host": "polyglot.events.com"}


class _Echo(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        reply = f"{self.headers.get('X-Test')}: ".encode() + body
        self.send_response(200)
        self.send_header("X-Reply", "a")
        self.send_header("X-Reply", "b")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def echo_server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def polyglot(universe: UniverseHandle) -> UniverseHandle:
    universe.client.fixture(universe.name, "buildLocalProject", ["", "", str(POLYGLOT), ""])
    return universe


@pytest.mark.parametrize("path", ["/rs", "/as"])
def test_rust_and_assemblyscript_publish_and_use_the_http_client(
    polyglot: UniverseHandle, echo_server: str, path: str
) -> None:
    universe = polyglot
    url = f"http://127.0.0.1:{universe.port('substrate')}{path}"
    start = universe.client.tail(universe.name, "orders")
    published = httpx.get(
        url, params={"op": "publish", "channel": "orders", "data": path}, headers=POLYGLOT_HOST, timeout=60
    )
    assert (published.status_code, published.text) == (200, "published")
    seen = universe.client.tail(universe.name, "orders", after=start["seq"], wait=10, peer=start["peer"])
    assert [base64.b64decode(m["data"]) for m in seen["messages"]] == [path.encode()]
    fetched = httpx.get(
        url, params={"op": "fetch", "url": f"{echo_server}/x"}, headers=POLYGLOT_HOST, timeout=60
    )
    assert fetched.status_code == 200, fetched.text
    lang = "rust" if path == "/rs" else "assemblyscript"
    expected = f"{lang}: from {lang}".encode()
    assert fetched.content == (b"a,b\n" + expected if path == "/rs" else expected)
    refused = httpx.get(url, params={"op": "publish", "channel": "nope", "data": "x"}, headers=POLYGLOT_HOST)
    assert (refused.status_code, refused.text) == (502, "errno 21")
