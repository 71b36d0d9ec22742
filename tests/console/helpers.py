"""What the console's tests share: the real `dream` CLI and the MCP SDK's client against the test daemon;
for the browser tests, screenshots kept as artefacts and bounded waits that survive the live sections
replacing their HTML (the signed-in browser is conftest.py's `signed_in`)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from dream.settings import repo_root
from dream.testing.harness import DaemonProcess

T = TypeVar("T")

ARTIFACTS = repo_root() / "test-artifacts" / "console"


def run_dream(daemon: DaemonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """`dream <args>` against `daemon`, its output kept as text."""
    return subprocess.run(
        [sys.executable, "-m", "dream", *args], env=daemon.env, capture_output=True, text=True, timeout=60
    )


def with_client(daemon: DaemonProcess, use: Callable[[Any], Awaitable[T]]) -> T:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def run() -> T:
        http = httpx2.AsyncClient(headers=daemon.auth(), timeout=httpx2.Timeout(30, read=600))
        async with http, Client(streamable_http_client(f"{daemon.url}/mcp", http_client=http)) as client:
            return await asyncio.wait_for(use(client), 900)

    return asyncio.run(run())


def data(result: Any) -> Any:
    """A tool result's value: its structured content, else its text as JSON."""
    assert not result.is_error, result
    if result.structured_content is not None:
        value = result.structured_content
        return value.get("result", value) if isinstance(value, dict) and set(value) == {"result"} else value
    return json.loads(result.content[0].text)


def shoot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path


def wait(driver: Any, condition: Any, timeout: float = 60, what: str = "") -> Any:
    """Wait for `condition`; the live sections replace their HTML as they change, so an element a
    condition holds may go stale: it is then asked again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(
        driver, timeout, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)
    ).until(condition, message=what)


def text_of(driver: Any, css: str) -> str:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    try:
        return str(driver.find_element("css selector", css).text)
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def click(driver: Any, css: str) -> None:
    """Click the element `css` finds, finding it again if a live update replaced it meanwhile."""

    def clicked(d: Any) -> bool:
        element = d.find_element("css selector", css)
        d.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
        element.click()
        return True

    wait(driver, clicked, timeout=10, what=f"a click on {css}")


def submit(driver: Any, form: str, **fields: str) -> None:
    """Type `fields` (by name, each cleared first) into the form with id `form`, then press its button."""
    found = driver.find_element("id", form)
    for name, text in fields.items():
        field = found.find_element("name", name)
        field.clear()
        field.send_keys(text)
    click(driver, f"#{form} button")


def shows(driver: Any, css: str, *parts: str, timeout: float = 60) -> str:
    """Wait until the element `css` finds holds every one of `parts` in its text; that text."""
    wait(driver, lambda d: all(p in text_of(d, css) for p in parts), timeout, what=f"{parts} in {css}")
    return text_of(driver, css)
