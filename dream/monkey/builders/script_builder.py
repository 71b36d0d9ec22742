"""A builder that runs the workflow's step scripts like upstream's container builder, each step in a
bubblewrap sandbox instead of a container (sandbox.py)."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from dream.monkey.builders.base import BuildConfigLike, BuildResult, LogFn
from dream.monkey.builders.blocked import explain
from dream.monkey.builders.env import step_env
from dream.monkey.builders.languages import CompileError
from dream.monkey.builders.paths import tool_cache_dir
from dream.monkey.builders.runner import run_step
from dream.monkey.builders.sandbox import (
    OPT_OUT_WARNING,
    Sandbox,
    SandboxUnavailable,
    current_sandbox,
    visible_dirs,
)
from dream.monkey.builders.scripts import DEFAULT_WASM_STEP, DEFAULT_WEBSITE_STEP, remap_paths, wasm_utils
from dream.monkey.builders.shared_cache import CACHED_LANGS, ensure_warm
from dream.monkey.builders.toolchains import Toolchain

STEP_DIRS = (".taubyte", "taubyte")
ERROR_TAIL_LINES = 20
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamps keep artefacts byte-identical for identical builds


@dataclass(frozen=True)
class ScriptBuilder:
    name: str
    lang: str  # argument of our wasm.sh `build` (see step.py); "website" for static sites
    images: tuple[str, ...]
    find_toolchain: Callable[[], Toolchain]

    @property
    def website(self) -> bool:
        return self.lang == "website"

    def toolchain(self) -> Toolchain:
        return self.find_toolchain()

    def build(
        self,
        src: Path,
        out: Path,
        *,
        config: BuildConfigLike,
        log: LogFn,
        timeout: float,
        cancel: threading.Event | None = None,
    ) -> BuildResult:
        start = time.monotonic()
        lines: list[str] = []

        def emit(line: str) -> None:
            lines.append(line)
            log(line)

        def fail(message: str) -> BuildResult:
            emit(f"error: {message}")
            return BuildResult(False, None, None, "\n".join(lines), time.monotonic() - start, False, message)

        out.mkdir(parents=True, exist_ok=True)
        steps = tuple(config.workflow) or ("build",)
        try:
            sandbox = current_sandbox()
        except SandboxUnavailable as exc:
            return fail(f"cannot build {src}: {exc}")
        if sandbox is None:
            emit(OPT_OUT_WARNING)
        emit(f"builder: {self.name}  image: {config.image}  workflow: {list(steps)}  source: {src}")
        cache = tool_cache_dir() if self.lang in CACHED_LANGS else None
        if sandbox is not None:
            emit(_describe(sandbox, cache))
        try:
            ensure_warm(self.lang, log=emit, timeout=timeout, cancel=cancel)
        except CompileError as exc:
            return fail(f"cannot build {src}: {exc}")
        with tempfile.TemporaryDirectory(prefix="dream-build-") as tmp:
            work = Path(tmp)
            dirs = {"src": work / "src", "out": work / "out", "utils": work / "utils"}
            shutil.copytree(src, dirs["src"], symlinks=True, ignore=shutil.ignore_patterns(".git"))
            dirs["out"].mkdir()
            dirs["utils"].mkdir()
            (dirs["utils"] / "wasm.sh").write_text(wasm_utils(self.lang, config.image))
            (work / "steps").mkdir()
            env = step_env(work, dirs["src"], dirs["out"], dict(config.variables))

            def relay(line: str) -> None:
                # Point messages at the user's files, not at our temp copy.
                for temp in (work / "go-module", dirs["src"]):
                    line = line.replace(str(temp), str(src))
                emit(line)

            def wrap(argv: list[str]) -> list[str]:
                if sandbox is None:
                    return argv
                return sandbox.command(argv, work=work, cwd=dirs["src"], cache=cache)

            deadline = start + timeout
            for step in steps:
                script = self._step_script(src, step)
                if script is None:
                    return fail(f"workflow step '{step}' has no .taubyte/{step}.sh in {src}; add that script")
                path = work / "steps" / f"{step}.sh"
                path.write_text(remap_paths(script, dirs))
                emit(f"--- step {step}")
                first_line = len(lines)
                run = run_step(
                    path,
                    cwd=dirs["src"],
                    env=env,
                    timeout=deadline - time.monotonic(),
                    on_line=relay,
                    cancel=cancel,
                    wrap=wrap,
                )
                if run.cancelled:
                    return fail(f"build of {src} cancelled in step '{step}'; its processes were stopped")
                if run.returncode is None:
                    return fail(
                        f"step '{step}' of {src} did not finish within {timeout:.0f}s and was stopped"
                    )
                code = self._ret_code(dirs["out"], run.returncode)
                if code != 0:
                    output = [line for line in lines[first_line:] if line.strip()]
                    tail = "\n".join(output[-ERROR_TAIL_LINES:]) or "(the step printed nothing)"
                    why = explain(run.output, work=work, visible=visible_dirs(work)) if sandbox else ""
                    return fail(
                        f"build of {src} failed in step '{step}' (exit code {code}):\n{tail}"
                        + (f"\n{why}" if why else "")
                    )
            result = self._collect(dirs["out"], out, src, emit, fail, start)
            return replace(result, log="\n".join(lines))

    def _step_script(self, src: Path, step: str) -> str | None:
        for folder in STEP_DIRS:
            candidate = src / folder / f"{step}.sh"
            if candidate.is_file():
                return candidate.read_text()
        if step == "build":
            return DEFAULT_WEBSITE_STEP if self.website else DEFAULT_WASM_STEP
        return None

    @staticmethod
    def _ret_code(out_dir: Path, returncode: int) -> int:
        """Upstream scripts report through /out/ret-code; honour it and the shell's own exit code."""
        ret_file = out_dir / "ret-code"
        if not ret_file.is_file():
            return returncode
        text = ret_file.read_text().strip()
        ret_file.unlink()
        try:
            code = int(text or "0")
        except ValueError:
            code = 1
        return code or returncode

    def _collect(
        self,
        out_dir: Path,
        dest: Path,
        src: Path,
        emit: LogFn,
        fail: Callable[[str], BuildResult],
        start: float,
    ) -> BuildResult:
        artifact = dest / "artifact.zip"
        if self.website:
            files = sorted(p for p in out_dir.rglob("*") if p.is_file())
            if not files:
                return fail(f"the website build of {src} produced no files in /out")
            with zipfile.ZipFile(artifact, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in files:
                    _add(archive, path.relative_to(out_dir).as_posix(), path.read_bytes())
            emit(f"website: {len(files)} files zipped")
            return BuildResult(True, artifact, None, "", time.monotonic() - start, False, None)
        wasm = _find_wasm(out_dir)
        if wasm is None:
            return fail(f"the build of {src} wrote no main.wasm (or artifact.wasm) into /out")
        main = dest / "main.wasm"
        shutil.copyfile(wasm, main)
        with zipfile.ZipFile(artifact, "w", zipfile.ZIP_DEFLATED) as archive:
            _add(archive, "main.wasm", main.read_bytes())
        emit(f"success: main.wasm {main.stat().st_size} bytes in {time.monotonic() - start:.2f}s")
        return BuildResult(True, artifact, main, "", time.monotonic() - start, False, None)


def _describe(sandbox: Sandbox, cache: Path | None) -> str:
    if cache is None:
        caches = ""
    elif sandbox.layered:
        caches = "; compiler cache: shared, read-only (writes last as long as the step)"
    else:
        caches = (
            "; compiler cache: shared and WRITABLE (this kernel cannot layer it: a build can change what"
            " other projects' builds link; see docs/security.md)"
        )
    return f"sandbox: bubblewrap; no network; writable: the job's folder only{caches}"


def _find_wasm(out_dir: Path) -> Path | None:
    for name in ("main.wasm", "artifact.wasm"):
        if (out_dir / name).is_file():
            return out_dir / name
    found = [p for p in out_dir.glob("*.wasm") if p.is_file()]
    return found[0] if len(found) == 1 else None


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)
