"""`<fqdn>.localhost` reaches what `<fqdn>` does, on the substrate and through the gateway, with no Host
header: curl and httpx send `*.localhost` to the loopback address by themselves."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from tests.https.conftest import PROJECT, ROOT, Web, localhost_get

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("node", ["substrate", "gateway"])
@pytest.mark.parametrize("which", ["generated", "registered"])
def test_the_localhost_twin_of_a_domain_answers_pong(web: Web, node: str, which: str) -> None:
    fqdn = getattr(web, which)
    url = f"http://{fqdn}.localhost:{web.port(node)}/ping"
    response = localhost_get(url)
    assert (response.status_code, response.text) == (200, "PONG")
    curl = subprocess.run(
        ["curl", "--silent", "--show-error", url], capture_output=True, text=True, timeout=30
    )
    assert curl.stdout == "PONG", curl.stderr


def test_upper_case_a_trailing_dot_and_a_port_route_the_same(web: Web) -> None:
    port = web.port("substrate")
    for host in (
        f"{web.registered.upper()}.LOCALHOST",
        f"{web.registered}.localhost.",
        f"{web.registered}.localhost:{port}",
    ):
        response = httpx.get(f"http://127.0.0.1:{port}/ping", headers={"host": host})
        assert response.text == "PONG", host


def test_a_website_is_served_at_its_localhost_name(web: Web) -> None:
    # The sample's site is built from the website template.
    site = ROOT / "fixtures" / "templates" / "website"
    web.universe.client.fixture(
        web.universe.name,
        "compileFor",
        [PROJECT, "", "QmHe11oWebsiteSite000000000000000000000000001", "", str(site), ""],
    )
    page = localhost_get(f"http://{web.generated}.localhost:{web.port('gateway')}/site")
    assert page.status_code == 200 and page.text == (site / "index.html").read_text()


def test_localhost_alone_and_unknown_names_route_nowhere(web: Web) -> None:
    port = web.port("substrate")
    for host in ("localhost", "nobody.example.com.localhost"):
        response = httpx.get(f"http://127.0.0.1:{port}/ping", headers={"host": host})
        assert response.status_code == 404, host
        assert "no HTTP match found" in response.text
    assert localhost_get(f"http://{web.registered}.localhost:{port}/ping").text == "PONG"  # still serving
