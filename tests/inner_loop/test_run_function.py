"""`dream run function`: one call, no universe, through monkey's builders and the substrate's wasm host."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import wasmtime

from dream.builders import find_toolchains
from tests.inner_loop.cli import dream

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "fixtures" / "templates" / "ping_pong"
HELLO = ROOT / "fixtures" / "projects" / "hello"
BOOM = (HELLO / "code" / "functions" / "boom" / "main.wat").read_text()


def require_go() -> None:
    go = next(chain for chain in find_toolchains() if chain.name == "go")
    if not go.found:
        pytest.skip(f"go toolchain not installed ({go.install_command})")


def test_a_wat_template_folder_is_built_and_answers() -> None:
    result = dream("run", "function", str(TEMPLATES / "wat"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "HTTP 200"
    assert result.stdout.rstrip().endswith("PONG")
    # What was called and what it took, on stderr (stdout stays the answer).
    assert "GET localhost/ping → functions/wat (export `ping`): build" in result.stderr
    assert "memory 64KB of" in result.stderr


@pytest.mark.language
def test_a_go_template_folder_is_built_by_monkeys_builder_and_answers() -> None:
    require_go()
    result = dream("run", "function", str(TEMPLATES / "go"), "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert (answer["status"], answer["body"], answer["export"]) == (200, "PONG", "ping")
    assert answer["build"] in ("built", "cached")
    assert answer["memory"]["used"] > 64 * 1024  # a Go module starts with more than one page


def test_a_project_function_takes_its_config_and_the_request_flags() -> None:
    body_file = HELLO / "config" / "config.yaml"
    result = dream(
        "run",
        "function",
        str(HELLO / "code" / "functions" / "echo"),
        "--json",
        "--path",
        "/echo?x=1",
        "-H",
        "X-Who: me",
        "--body",
        f"@{body_file}",
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    # Method, Host and export come from config/functions/echo.yaml and its domain.
    assert answer["request"] == {"method": "POST", "host": "hello.computers.com", "path": "/echo?x=1"}
    assert answer["export"] == "echo"
    assert answer["body"].startswith("method=POST path=/echo")
    assert answer["body"].endswith("body=" + body_file.read_text())
    assert ["X-Echo", "yes"] in answer["headers"]
    assert answer["memory"]["limit"] == 10_000_000  # execution.memory: 10MB


def test_a_prebuilt_module_runs_with_its_only_export(tmp_path: Path) -> None:
    wasm = tmp_path / "pong.wasm"
    wasm.write_bytes(wasmtime.wat2wasm((TEMPLATES / "wat" / "main.wat").read_text()))
    result = dream("run", "function", str(wasm), "--method", "GET", "--domain", "example.com", "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert (answer["status"], answer["body"], answer["export"], answer["build"]) == (
        200,
        "PONG",
        "ping",
        "prebuilt",
    )
    assert answer["request"]["host"] == "example.com"


def test_bad_input_is_one_clear_error(tmp_path: Path) -> None:
    wasm = tmp_path / "pong.wasm"
    wasm.write_bytes(wasmtime.wat2wasm((TEMPLATES / "wat" / "main.wat").read_text()))
    missing = dream("run", "function", str(wasm), "--call", "pong")
    assert missing.returncode == 1
    assert "has no exported function `pong` (it exports: ping" in missing.stderr

    boom = tmp_path / "boom.wasm"
    boom.write_bytes(wasmtime.wat2wasm(BOOM))
    trap = dream("run", "function", str(boom))
    assert trap.returncode == 1
    assert "function `boom` trapped: wasm `unreachable` instruction executed" in trap.stderr

    text = tmp_path / "notes.wasm"
    text.write_text("hello")
    not_wasm = dream("run", "function", str(text))
    assert not_wasm.returncode == 1
    assert "is not a WebAssembly module" in not_wasm.stderr

    other = dream("run", "function", str(HELLO / "config" / "config.yaml"))
    assert other.returncode == 1
    assert "is neither a function folder nor a .wasm/.zwasm module" in other.stderr
    nowhere = dream("run", "function", str(tmp_path / "nowhere"))
    assert "does not exist; pass a function folder or a .wasm/.zwasm module" in nowhere.stderr
    bad_header = dream("run", "function", str(wasm), "-H", "no colon")
    assert "is not `Name: value`" in bad_header.stderr


def test_a_build_error_and_a_config_error_name_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "wat"
    shutil.copytree(TEMPLATES / "wat", folder)
    (folder / "main.wat").write_text('(module (func (export "ping") (param i32) (result i32) (i32.const 0)\n')
    broken = dream("run", "function", str(folder))
    assert broken.returncode == 1
    assert "failed to build" in broken.stderr and "main.wat" in broken.stderr
    shutil.copy(TEMPLATES / "wat" / "main.wat", folder / "main.wat")
    spec = (folder / "function.yaml").read_text().replace("timeout: 10s", "timeout: soon")
    (folder / "function.yaml").write_text(spec)
    bad_config = dream("run", "function", str(folder))
    assert bad_config.returncode == 1
    assert f"{folder / 'function.yaml'}:13: execution.timeout:" in bad_config.stderr
