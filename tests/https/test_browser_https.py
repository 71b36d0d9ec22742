"""A real browser over HTTPS: headless Chromium (Debian's, from scripts/browser), whose NSS database trusts
the dream home's root (added with the real certutil, as `dream ca install` does), opens a function and a
website at their `.localhost` names on the gateway's and the substrate's https ports. No /etc/hosts edit,
no certificate warning skipped: Chromium resolves `*.localhost` itself and checks the chain. Screenshots
are kept in test-artifacts/browser/."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dream.settings import repo_root
from dream.testing.harness import DaemonProcess
from tests.browser import CHROMEDRIVER, chromium_options, need
from tests.https.conftest import PROJECT, ROOT, Web

pytestmark = pytest.mark.e2e

CERTUTIL = shutil.which("certutil") or "/usr/bin/certutil"
ARTIFACTS = repo_root() / "test-artifacts" / "browser"
SITE = "QmHe11oWebsiteSite000000000000000000000000001"


@pytest.fixture(scope="module")
def browser(dream_daemon: DaemonProcess) -> Iterator[object]:
    need(CERTUTIL)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="dream-chromium-home-") as home:
        # Chromium on Linux trusts the roots of $HOME/.pki/nssdb: a home of its own, trusting dream's root.
        nssdb = Path(home) / ".pki" / "nssdb"
        nssdb.mkdir(parents=True)
        root = Path(dream_daemon.home) / "ca" / "root.pem"
        subprocess.run([CERTUTIL, "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True, timeout=60)
        subprocess.run(
            [CERTUTIL, "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "dream local CA", "-i", str(root)],
            check=True,
            timeout=60,
        )
        options = chromium_options(f"--user-data-dir={Path(home) / 'profile'}")
        service = Service(executable_path=CHROMEDRIVER, env={**os.environ, "HOME": home})
        driver = webdriver.Chrome(service=service, options=options)
        driver.set_page_load_timeout(60)
        try:
            yield driver
        finally:
            driver.quit()


def screenshot(driver: object, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    return path


@pytest.mark.parametrize("node", ["gateway", "substrate"])
def test_chromium_reads_pong_over_https_at_the_localhost_name(web: Web, browser: object, node: str) -> None:
    url = f"https://{web.generated}.localhost:{web.port(node, 'https')}/ping"
    browser.get(url)  # type: ignore[attr-defined]
    text = browser.find_element("tag name", "body").text  # type: ignore[attr-defined]
    shot = screenshot(browser, f"https-ping-{node}.png")
    assert text == "PONG", f"{url} showed {text!r} (see {shot})"
    assert browser.current_url == url  # type: ignore[attr-defined]


def test_chromium_shows_a_website_over_https(web: Web, browser: object) -> None:
    site = ROOT / "fixtures" / "templates" / "website"
    web.universe.client.fixture(web.universe.name, "compileFor", [PROJECT, "", SITE, "", str(site), ""])
    url = f"https://{web.registered}.localhost:{web.port('gateway', 'https')}/site"
    browser.get(url)  # type: ignore[attr-defined]
    title = browser.title  # type: ignore[attr-defined]
    shot = screenshot(browser, "https-website.png")
    assert shot.stat().st_size > 0
    expected = (site / "index.html").read_text().split("<title>")[1].split("</title>")[0]
    assert title == expected, f"{url} showed {title!r} (see {shot})"
