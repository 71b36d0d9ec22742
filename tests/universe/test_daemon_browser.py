"""A real browser: a page on another origin tries to drive the daemon, and a page on a rebound name tries
to read it. Headless Chromium (Debian's, from scripts/browser) driven by selenium; nothing loads from the
network. A screenshot of the page is kept in test-artifacts/browser/."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dream.settings import repo_root
from dream.testing.harness import DaemonProcess, UniverseHandle
from dream.testing.plugin import UniverseFactory
from tests.browser import CHROMEDRIVER, chromium_options, need

pytestmark = pytest.mark.e2e

ARTIFACTS = repo_root() / "test-artifacts" / "browser"
# A name the browser resolves to 127.0.0.1 by itself: what DNS rebinding gives an attacker's page.
REBOUND = "rebound.example"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>running</title></head>
<body><h1>A page on another origin</h1><pre id="out">running</pre>
<script>
const daemon = %(daemon)s;
const results = {};
async function attempt(name, url, options) {
  try {
    const response = await fetch(url, options);
    results[name] = "answered " + response.status + " " + (await response.text());
  } catch (error) {
    results[name] = "failed: " + error;
  }
}
(async () => {
  const body = JSON.stringify({name: "fromweb", path: %(path)s});
  await attempt("post", daemon + "/project/" + %(universe)s,
                {method: "POST", headers: {"Content-Type": "text/plain"}, body});
  await attempt("post-no-cors", daemon + "/project/" + %(universe)s,
                {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body});
  await attempt("delete", daemon + "/universe/" + %(universe)s, {method: "DELETE"});
  await attempt("status", daemon + "/status", {});
  document.getElementById("out").textContent = JSON.stringify(results, null, 2);
  document.title = "done";
})();
</script></body></html>
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    need()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = chromium_options(f"--host-resolver-rules=MAP {REBOUND} 127.0.0.1")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="dream-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        driver.set_page_load_timeout(60)
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture
def page_server() -> Iterator[tuple[ThreadingHTTPServer, dict[str, bytes]]]:
    """A tiny HTTP server on another port (another origin) serving the pages a test puts in `pages`."""
    pages: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            content = pages.get(self.path)
            self.send_response(200 if content else 404)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(content or b"")))
            self.end_headers()
            self.wfile.write(content or b"")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, pages
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def target(module_universe_factory: UniverseFactory) -> UniverseHandle:
    return module_universe_factory("browsed", config={"Services": {"auth": {}, "tns": {}}, "Simples": {}})


def screenshot(driver: object, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    return path


def test_a_page_on_another_origin_cannot_drive_the_daemon(
    browser: object,
    page_server: tuple[ThreadingHTTPServer, dict[str, bytes]],
    dream_daemon: DaemonProcess,
    target: UniverseHandle,
    tmp_path: Path,
) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    server, pages = page_server
    where = tmp_path / "fromweb"
    pages["/attack.html"] = (
        PAGE
        % {
            "daemon": json.dumps(dream_daemon.url),
            "universe": json.dumps(target.name),
            "path": json.dumps(str(where)),
        }
    ).encode()
    page_port = server.server_address[1]
    driver = browser
    driver.get(f"http://127.0.0.1:{page_port}/attack.html")  # type: ignore[attr-defined]
    WebDriverWait(driver, 60).until(lambda d: d.title == "done")
    results = json.loads(driver.find_element("id", "out").text)  # type: ignore[attr-defined]
    shot = screenshot(driver, "cross-origin-page.png")
    assert shot.stat().st_size > 0

    # The page could read nothing (no CORS header came back) ...
    for name in ("post", "delete", "status"):
        assert results[name].startswith("failed: TypeError"), results
    # ... and its requests reached the daemon, which refused them itself.
    log = dream_daemon.log()
    origin = f"Origin `http://127.0.0.1:{page_port}`"
    assert f"refused POST /project/{target.name}" in log and origin in log
    assert f"refused OPTIONS /universe/{target.name}" in log
    assert "cross-origin preflight from the web page at " + origin in log
    # Nothing happened: no project on disk or in auth, the universe still runs.
    assert not where.exists()
    with dream_daemon.client() as client:
        assert client.projects(target.name) == []
        assert client.universes()[target.name]["state"] == "running"
        assert client.ping()


def test_a_rebound_name_cannot_read_the_daemon(
    browser: object, dream_daemon: DaemonProcess, target: UniverseHandle
) -> None:
    """DNS rebinding: a page on rebound.example:<daemon port> is same-origin with whatever that name
    resolves to; the daemon refuses it by its Host header."""
    driver = browser
    driver.get(f"http://{REBOUND}:{dream_daemon.port}/status")  # type: ignore[attr-defined]
    text = driver.find_element("tag name", "body").text  # type: ignore[attr-defined]
    screenshot(driver, "rebound-name.png")
    answer = json.loads(text)
    assert answer["code"] == 403
    assert f"Host `{REBOUND}:{dream_daemon.port}`" in answer["error"]
    assert f"accepted hosts: 127.0.0.1:{dream_daemon.port}" in answer["error"]
    assert target.name not in text and "nodes" not in text
