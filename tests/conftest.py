"""Shared test settings: dream's own pytest plugin provides the daemon and universe fixtures.

Tests of one guest language (its builds, its templates) carry the `language` marker. Such a test skips
when its toolchain is missing on a developer's machine; in CI (`CI` set to true, as `.ci/run` does) that
skip is a failure, with the skip's reason, so a toolchain lost from CI never turns into a green run
without its tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

CI_ENV = "CI"
LANGUAGE_MARKER = "language"


def in_ci() -> bool:
    return os.environ.get(CI_ENV, "").strip().lower() in ("1", "true", "yes")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{LANGUAGE_MARKER}: tests one guest language; skipping it fails the run in CI"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if not (report.skipped and in_ci() and item.get_closest_marker(LANGUAGE_MARKER)):
        return
    if hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    report.outcome = "failed"
    report.longrepr = (
        f"{item.nodeid} was skipped, and in CI every language is tested: {reason.removeprefix('Skipped: ')}\n"
        "Install the missing toolchain in CI (scripts/toolchains), or run without CI=true to allow the skip."
    )


# The default universe's fixed gateway ports stay off for every daemon a test starts (through the
# harness or the CLI): tests run universes in parallel. tests/https/test_stable_ports.py turns them on,
# pointed at free ports.
os.environ.setdefault("DREAM_GATEWAY_PORTS", "off")
