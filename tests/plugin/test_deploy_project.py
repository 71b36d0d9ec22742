"""The plugin's deploy_project fixture: a build failure fails the test with the compiler's message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
EXAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "examples" / "ping-project"


def test_a_broken_function_fails_the_test_with_the_compiler_message(deploy_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project = tmp_path / "broken"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("tests"))
    source = project / "code" / "functions" / "hello" / "hello.go"
    source.write_text(source.read_text().replace('name = "world"', "name = undefinedThing"))
    with pytest.raises(pytest.fail.Exception) as failure:
        deploy_project(project)
    message = str(failure.value)
    assert "functions/hello failed to build" in message
    assert "undefinedThing" in message  # the compiler's own words


def test_a_directory_that_is_not_a_project_is_refused(deploy_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(pytest.fail.Exception, match="needs config/ and code/ folders"):
        deploy_project(tmp_path)
