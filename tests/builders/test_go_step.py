"""The standard Go step run by dream itself (`go build` alone in the sandbox), the cases that keep the
script, and the build's early hand-over of the module (`on_wasm`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from dream.builders import BuildResult, build_function
from dream.builders.scripts import DEFAULT_WASM_STEP, is_standard_wasm_step
from tests.builders.harness import Request, run
from tests.builders.test_builders import PING_PONG, require_toolchain

DIRECT = "(the standard script: dream runs go build itself)"


def go_copy(tmp_path: Path, answer: str) -> Path:
    src = tmp_path / "go"
    shutil.copytree(PING_PONG / "go", src)
    (src / "ping.go").write_text((src / "ping.go").read_text().replace('"PONG"', f'"{answer}"'))
    return src


def build(src: Path, tmp_path: Path, handed: list[bytes] | None = None) -> tuple[BuildResult, list[str]]:
    lines: list[str] = []
    on_wasm = None if handed is None else handed.append
    result = build_function(src, cache_dir=tmp_path / "cache", log=lines.append, on_wasm=on_wasm)
    return result, lines


def test_standard_scripts_are_recognised() -> None:
    template = (PING_PONG / "go" / ".taubyte" / "build.sh").read_text()
    assert is_standard_wasm_step(template) and is_standard_wasm_step(DEFAULT_WASM_STEP)
    assert is_standard_wasm_step("#!/bin/sh\n# a comment\n\n" + DEFAULT_WASM_STEP.replace("\n", "  \n"))
    assert not is_standard_wasm_step("echo hi\n" + DEFAULT_WASM_STEP)
    assert not is_standard_wasm_step(DEFAULT_WASM_STEP.replace('build "${FILENAME}"', "build other"))


@pytest.mark.language
def test_the_standard_go_step_runs_go_build_alone(tmp_path: Path) -> None:
    require_toolchain("go")
    handed: list[bytes] = []
    result, lines = build(go_copy(tmp_path, "DRCT"), tmp_path, handed)
    assert result.ok and result.wasm is not None, result.log
    assert any(line.startswith("--- step build") and DIRECT in line for line in lines), lines
    assert bytes(run(result.wasm, "ping", Request()).body) == b"DRCT"
    # The module was handed over before it was zipped, and it is the module the build made.
    assert handed == [result.wasm.read_bytes()]
    again, _ = build(go_copy(tmp_path / "again", "DRCT"), tmp_path, handed)
    assert again.cached and len(handed) == 1  # a cache hit built nothing: nothing handed over


@pytest.mark.language
def test_a_go_step_with_more_commands_runs_as_written(tmp_path: Path) -> None:
    require_toolchain("go")
    src = go_copy(tmp_path, "SHEL")
    script = src / ".taubyte" / "build.sh"
    script.write_text("echo from-the-script\n" + script.read_text())
    result, lines = build(src, tmp_path)
    assert result.ok, result.log
    assert "from-the-script" in lines and not any(DIRECT in line for line in lines)
    assert result.wasm is not None and bytes(run(result.wasm, "ping", Request()).body) == b"SHEL"


@pytest.mark.language
def test_a_go_source_holding_a_link_builds_in_the_sandbox_step(tmp_path: Path) -> None:
    require_toolchain("go")
    src = go_copy(tmp_path, "LINK")
    os.symlink("ping.go", src / "alias.txt")  # dream lays out no source holding links outside the sandbox
    result, lines = build(src, tmp_path)
    assert result.ok, result.log
    assert not any(DIRECT in line for line in lines)


@pytest.mark.language
def test_the_direct_step_reports_errors_as_the_script_did(tmp_path: Path) -> None:
    require_toolchain("go")
    src = go_copy(tmp_path, "FAIL")
    (src / "ping.go").write_text((src / "ping.go").read_text().replace("return 0", "return zero"))
    result, lines = build(src, tmp_path)
    assert not result.ok and result.error is not None
    assert any(DIRECT in line for line in lines)
    assert "ping.go:" in result.error and "undefined: zero" in result.error, result.error
    assert "error: go exited with code 1" in result.error
    assert "dream-build-" not in result.error
    (src / "ping.go").write_bytes(b"package lib\n// \xff\xfe not UTF-8\n")
    result, _ = build(src, tmp_path)
    assert not result.ok and result.error is not None
    assert "cannot prepare the Go module" in result.error and "utf-8" in result.error, result.error
    empty = tmp_path / "empty"
    shutil.copytree(PING_PONG / "go" / ".taubyte", empty / ".taubyte")
    result, _ = build(empty, tmp_path)
    assert not result.ok and result.error is not None
    assert "no Go files at the top level" in result.error and "exit code 1" in result.error


def test_go_builds_collect_garbage_late_unless_the_project_says(tmp_path: Path) -> None:
    from dream.builders.env import GO_GC, GO_MEMORY_TARGET, step_env

    env = step_env(tmp_path, tmp_path / "src", tmp_path / "out")
    assert (env["GOGC"], env["GOMEMLIMIT"]) == (GO_GC, GO_MEMORY_TARGET) == ("off", "512MiB")
    mine = step_env(tmp_path, tmp_path / "src", tmp_path / "out", {"GOGC": "100", "GOMEMLIMIT": "1GiB"})
    assert (mine["GOGC"], mine["GOMEMLIMIT"]) == ("100", "1GiB")
