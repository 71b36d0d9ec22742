"""Headless Chromium for the browser tests (Debian's chromium and chromedriver, from scripts/browser)."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# Headless, quiet (no background traffic, no first-run pages), fixed size: screenshots compare alike.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1000,800",
)


def need(*paths: str) -> None:
    """Skip the test when a program it drives is not installed (fail on CI, where it must be)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER, *paths) if not os.path.exists(p)]
    if missing:
        reason = f"{', '.join(missing)} not installed: run scripts/browser (as root)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def chromium_options(*more: str) -> Any:
    """Chromium's options: FLAGS, then `more`."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, *more):
        options.add_argument(flag)
    return options
