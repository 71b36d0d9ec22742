"""Builds every ping_pong template with the real toolchains and runs the result in a wasmtime host."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

import dream
from dream.builders import BuildResult, build_function, builder_for_image, find_toolchains, warm
from dream.builders.paths import tool_cache_dir
from dream.builders.scripts import remap_paths
from dream.testing.harness import wait_for
from dream.wasm.host import WasmHost
from dream.wasm.types import HttpRequest
from tests.builders.harness import Request, run

TEMPLATES = Path(__file__).resolve().parents[2] / "fixtures" / "templates"
PING_PONG = TEMPLATES / "ping_pong"
LANGS = ["go", "c", "zig", "assemblyscript", "rust", "wat"]
TOOLCHAIN_OF = {
    "go": "go",
    "c": "zig",
    "zig": "zig",
    "assemblyscript": "assemblyscript",
    "rust": "rust",
    "wat": "wat",
}
# Entry file of each template and an edit that breaks its syntax.
BROKEN = {
    "go": ("ping.go", "func ping(", "func ping(("),
    "c": ("ping.c", "return 0;", "return 0"),
    "zig": ("main.zig", "return 0;", "return 0"),
    "assemblyscript": ("assembly/index.ts", "return 0;", "return 0 +;"),
    "rust": ("lib.rs", "    0\n}", "    0 +\n}"),
    "wat": ("main.wat", "(i32.const 0)))", "(i32.const 0))"),
}


def require_toolchain(lang: str) -> None:
    chains = {chain.name: chain for chain in find_toolchains()}
    chain = chains[TOOLCHAIN_OF[lang]]
    if not chain.found:
        pytest.skip(f"{chain.name} toolchain not installed ({chain.install_command})")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("build-cache")


def build(src: Path, cache: Path, timeout: float = 300) -> BuildResult:
    lines: list[str] = []
    result = build_function(src, cache_dir=cache, log=lines.append, timeout=timeout)
    if result.cached:  # one line says so; the result keeps the log of the build that made the artefact
        assert len(lines) == 1 and lines[0].startswith("cached build "), lines
        assert result.log.startswith("builder: "), result.log
    else:  # the log a user watched line by line is the log the result keeps
        assert "\n".join(lines) == result.log
    return result


def copy_template(lang: str, dest: Path) -> Path:
    target = dest / lang
    shutil.copytree(PING_PONG / lang, target)
    return target


@pytest.mark.language
@pytest.mark.parametrize("lang", LANGS)
def test_ping_pong_template_answers_pong(lang: str, cache_dir: Path) -> None:
    require_toolchain(lang)
    result = build(PING_PONG / lang, cache_dir)
    assert result.ok, result.error
    assert result.wasm is not None and result.artifact is not None
    with zipfile.ZipFile(result.artifact) as archive:
        assert archive.namelist() == ["main.wasm"]
        assert archive.read("main.wasm") == result.wasm.read_bytes()
    response = run(result.wasm, "ping", Request())
    assert (response.status, bytes(response.body)) == (200, b"PONG")
    assert (PING_PONG / lang / "function.yaml").is_file()


@pytest.mark.language
def test_go_function_echoes_header_query_and_body(tmp_path: Path, cache_dir: Path) -> None:
    require_toolchain("go")
    src = copy_template("go", tmp_path)
    (src / "ping.go").unlink()
    (src / "echo.go").write_text(
        """package lib

import (
	"io"

	"github.com/taubyte/go-sdk/event"
)

//export echo
func echo(e event.Event) uint32 {
	h, err := e.HTTP()
	if err != nil {
		return 1
	}
	method, _ := h.Method()
	path, _ := h.Path()
	greeting, _ := h.Headers().Get("X-Greeting")
	name, _ := h.Query().Get("name")
	body, _ := io.ReadAll(h.Body())
	h.Headers().Set("X-Echo", greeting)
	h.Write([]byte(method + " " + path + " " + greeting + " " + name + " " + string(body)))
	h.Return(201)
	return 0
}
"""
    )
    result = build(src, cache_dir)
    assert result.ok, result.error
    assert result.wasm is not None
    request = Request(
        method="POST", path="/echo", headers={"X-Greeting": "hi"}, query={"name": "dream"}, body=b"x" * 5000
    )
    response = run(result.wasm, "echo", request)
    assert response.status == 201
    assert bytes(response.body) == b"POST /echo hi dream " + b"x" * 5000
    assert ("X-Echo", "hi") in response.headers


@pytest.mark.language
@pytest.mark.parametrize("lang", LANGS)
def test_syntax_error_reports_the_compiler_message(lang: str, tmp_path: Path, cache_dir: Path) -> None:
    require_toolchain(lang)
    src = copy_template(lang, tmp_path)
    name, old, new = BROKEN[lang]
    text = (src / name).read_text()
    assert old in text
    (src / name).write_text(text.replace(old, new, 1))
    result = build(src, cache_dir)
    assert not result.ok
    assert result.wasm is None and result.artifact is None and not result.cached
    assert result.error is not None
    assert Path(name).name in result.error, result.error  # the compiler names the broken file
    assert "error" in result.error.lower()
    assert "failed in step 'build'" in result.error
    assert "dream-build-" not in result.error  # messages point at the user's files, not our temp copy


@pytest.mark.language
def test_unchanged_rebuild_hits_the_cache(tmp_path: Path) -> None:
    require_toolchain("wat")
    cache_dir = tmp_path / "cache"  # the cache is keyed by content: a shared one may already hold this build
    src = copy_template("wat", tmp_path)
    first = build(src, cache_dir)
    assert first.ok and not first.cached
    second = build(src, cache_dir)
    assert second.ok and second.cached
    assert second.wasm == first.wasm and second.artifact == first.artifact
    (src / "main.wat").write_text((src / "main.wat").read_text().replace("PONG", "PANG"))
    third = build(src, cache_dir)
    assert third.ok and not third.cached
    assert third.wasm != first.wasm
    assert bytes(run(third.wasm, "ping", Request()).body) == b"PANG"


@pytest.mark.language
def test_go_rebuild_hits_the_cache(cache_dir: Path) -> None:
    require_toolchain("go")
    first = build(PING_PONG / "go", cache_dir)
    assert first.ok
    second = build(PING_PONG / "go", cache_dir)
    assert second.cached


@pytest.mark.language
def test_upstream_build_script_sources_utils_and_honours_ret_code(tmp_path: Path, cache_dir: Path) -> None:
    require_toolchain("wat")
    src = copy_template("wat", tmp_path)
    script = (src / ".taubyte" / "build.sh").read_text()
    assert ". /utils/wasm.sh" in script and "/out/ret-code" in script
    # A script reporting failure only through /out/ret-code (shell exit 0) must fail the build.
    (src / ".taubyte" / "build.sh").write_text(
        '. /utils/wasm.sh\nbuild "${FILENAME}"\necho -n 3 > /out/ret-code\n'
    )
    result = build(src, cache_dir)
    assert not result.ok and result.error is not None and "exit code 3" in result.error


def test_remap_paths_only_touches_container_paths() -> None:
    dirs = {"src": Path("/w/src"), "out": Path("/w/out"), "utils": Path("/w/utils")}
    script = '. /utils/wasm.sh\ncp /src/a "/out/b" /usr/out /output $HOME/src x/out\necho 1 > /out/ret-code\ncd /src\n'
    assert remap_paths(script, dirs) == (
        '. /w/utils/wasm.sh\ncp /w/src/a "/w/out/b" /usr/out /output $HOME/src x/out\n'
        "echo 1 > /w/out/ret-code\ncd /w/src\n"
    )


def test_website_is_zipped_whole(cache_dir: Path) -> None:
    result = build(TEMPLATES / "website", cache_dir)
    assert result.ok, result.error
    assert result.wasm is None and result.artifact is not None
    with zipfile.ZipFile(result.artifact) as archive:
        assert sorted(archive.namelist()) == ["index.html", "style.css"]
        assert b"<h1>" in archive.read("index.html")


@pytest.mark.language
def test_prebuilt_wasm_image(tmp_path: Path, cache_dir: Path) -> None:
    require_toolchain("wat")
    built = build(PING_PONG / "wat", cache_dir)
    assert built.wasm is not None
    src = tmp_path / "prebuilt"
    (src / ".taubyte").mkdir(parents=True)
    (src / ".taubyte" / "config.yaml").write_text(
        "version: 1.00\nenvironment:\n  image: dream/wasm\nworkflow: [build]\n"
    )
    (src / ".taubyte" / "build.sh").write_text('. /utils/wasm.sh\nbuild "${FILENAME}"\n')
    shutil.copyfile(built.wasm, src / "ping.wasm")
    result = build(src, cache_dir)
    assert result.ok, result.error
    assert result.wasm is not None
    assert bytes(run(result.wasm, "ping", Request()).body) == b"PONG"


def test_step_timeout_stops_the_build(tmp_path: Path, cache_dir: Path) -> None:
    src = copy_template("wat", tmp_path)
    (src / ".taubyte" / "build.sh").write_text("sleep 30\n")
    start = time.monotonic()
    result = build(src, cache_dir, timeout=1)
    assert time.monotonic() - start < 10
    assert not result.ok and result.error is not None and "did not finish within 1s" in result.error


def running(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def sleepers(marker: str) -> list[int]:
    """Pids (as this test sees them) of `sleep <marker>` processes that are running."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[:2] == [b"sleep", marker.encode()] and running(int(proc.name)):
                found.append(int(proc.name))
    return found


def test_cancel_stops_the_build_and_its_processes(tmp_path: Path, cache_dir: Path) -> None:
    src = copy_template("wat", tmp_path)
    marker = f"{60 + time.time_ns() % 1000 / 1000:.3f}"  # sleeps this long: names the child uniquely
    # A child of the step (as a compiler would be) that would outlive a build stopped carelessly. The
    # step runs in the sandbox's own pid namespace, so the child is found from here by its arguments.
    (src / ".taubyte" / "build.sh").write_text(f"sleep {marker} &\necho started\nwait\n")
    cancel = threading.Event()
    children: list[int] = []

    def log(line: str) -> None:
        if line == "started" and not cancel.is_set():
            wait_for(lambda: sleepers(marker), "the step's child process to start", timeout=10)
            children.extend(sleepers(marker))
            cancel.set()

    start = time.monotonic()
    result = build_function(src, cache_dir=cache_dir, log=log, timeout=120, cancel=cancel)
    assert time.monotonic() - start < 10
    assert not result.ok and result.error is not None and "cancelled in step 'build'" in result.error
    assert children
    wait_for(
        lambda: not any(running(child) for child in children),
        "the cancelled step's child process to be gone",
        timeout=10,
    )
    # Nothing was cached: the same source builds (here: fails the same way) from scratch.
    again = build_function(src, cache_dir=cache_dir, log=log, timeout=120, cancel=cancel)
    assert not again.cached and again.error is not None and "cancelled" in again.error


def test_unknown_image_is_a_clear_error(tmp_path: Path, cache_dir: Path) -> None:
    src = copy_template("wat", tmp_path)
    config = src / ".taubyte" / "config.yaml"
    config.write_text(config.read_text().replace("dream/wat", "acme/cobol-wasi:1"))
    result = build(src, cache_dir)
    assert not result.ok and result.error is not None
    assert "acme/cobol-wasi:1" in result.error and "taubyte/go-wasi" in result.error


def test_image_map() -> None:
    cases = {
        "taubyte/go-wasi:latest": "go",
        "docker.io/taubyte/go-wasi:v1": "go",
        "taubyte/rust-wasi": "rust",
        "taubyte/assembly-script-wasi:latest": "assemblyscript",
        "dream/c-wasi": "c",
        "dream/zig-wasi": "zig",
        "dream/wat": "wat",
        "dream/wasm": "wasm",
        "node:16.18.0-alpine": "website",
        "dream/website": "website",
    }
    for image, name in cases.items():
        builder = builder_for_image(image)
        assert builder is not None and builder.name == name, image
    assert builder_for_image("python:3.12") is None


def test_find_toolchains_lists_every_language() -> None:
    chains = {chain.name: chain for chain in find_toolchains()}
    assert set(chains) == {"go", "zig", "rust", "assemblyscript", "wat"}
    assert chains["wat"].found
    for chain in chains.values():
        assert chain.install_command or chain.name == "wat"
        assert chain.version is not None or not chain.found, chain  # a toolchain found has a version


@pytest.mark.language
def test_go_template_runs_in_the_substrate_host(cache_dir: Path, tmp_path: Path) -> None:
    """Cross-check with the substrate's own wasm host."""
    require_toolchain("go")
    result = build(PING_PONG / "go", cache_dir)
    assert result.ok and result.artifact is not None
    with WasmHost(tmp_path / "aot") as host:
        module = host.load_artifact("test", result.artifact.read_bytes(), name="functions/ping")
        response = module.call(
            "ping", HttpRequest(method="GET", host="x", path="/ping"), timeout=10, memory_limit=64 << 20
        )
    assert (response.status, response.body) == (200, b"PONG")


def test_missing_config_is_a_clear_error(tmp_path: Path) -> None:
    result = build(tmp_path, tmp_path / "cache")
    assert not result.ok and result.error is not None
    assert ".taubyte/config.yaml" in result.error and str(tmp_path) in result.error


@pytest.mark.language
def test_warm_runs_a_real_compile_and_rejects_unknown_names(tmp_path: Path) -> None:
    require_toolchain("wat")
    lines: list[str] = []
    spent = warm("wat", log=lines.append)
    (chain,) = [c for c in find_toolchains() if c.name == "wat"]
    assert lines == [
        f"warming wat {chain.version} (one-time cost, cached in {tool_cache_dir()}) ...",
        f"warmed wat in {spent:.1f}s",
    ]
    # The compile is real: with a wat compiler that refuses everything (in a copy of dream), warming fails
    # and says what the compiler said.
    copy = tmp_path / "copy"
    shutil.copytree(Path(dream.__file__).parent, copy / "dream", ignore=shutil.ignore_patterns("__pycache__"))
    languages = copy / "dream" / "builders" / "languages.py"
    entry = '    entry = _entry(src, ("main.wat", "lib.wat", "function.wat"), ".wat")\n'
    assert entry in languages.read_text()
    refuse = '    raise CompileError(f"{entry.name} is refused by this compiler")\n'
    languages.write_text(languages.read_text().replace(entry, entry + refuse))
    child = subprocess.run(
        [sys.executable, "-c", "import dream.builders as b; print(b.__file__); b.warm('wat')"],
        cwd=copy,
        env={**os.environ, "PYTHONPATH": str(copy)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.stdout.startswith(str(copy)), child.stdout  # the copy ran
    assert child.returncode == 1
    assert "warming wat failed:\nerror: main.wat is refused by this compiler" in child.stderr, child.stderr
    with pytest.raises(ValueError, match="unknown toolchain"):
        warm("cobol")
