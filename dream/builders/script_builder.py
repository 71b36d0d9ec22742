"""A builder that runs the workflow's step scripts like upstream's container builder, each step in a
bubblewrap sandbox instead of a container (sandbox.py)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from dream.builders.base import BuildConfigLike, BuildResult, LogFn
from dream.builders.blocked import explain
from dream.builders.env import step_env
from dream.builders.languages import CompileError, prepare_go_module, staged_go_sdk
from dream.builders.paths import tool_cache_dir
from dream.builders.runner import StepRun, run_step
from dream.builders.sandbox import (
    OPT_OUT_WARNING,
    Sandbox,
    SandboxUnavailable,
    current_sandbox,
    visible_dirs,
)
from dream.builders.scripts import (
    DEFAULT_WASM_STEP,
    DEFAULT_WEBSITE_STEP,
    is_standard_wasm_step,
    remap_paths,
    wasm_utils,
)
from dream.builders.shared_cache import CACHED_LANGS, reading_shared_cache
from dream.builders.toolchains import Toolchain

STEP_DIRS = (".taubyte", "taubyte")
ERROR_TAIL_LINES = 20
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamps keep artefacts byte-identical for identical builds
# zlib level 1: a Go module's 2.4 MB deflate in ~0.2 s instead of ~0.7 s at the default level 6, for a
# zip ~17% bigger; the artefact only travels between processes of this machine.
ARTIFACT_COMPRESSLEVEL = 1
ZIG_LANGS = frozenset({"c", "zig"})
PRIVATE_ZIG_CACHE = ".zig-private-cache"
ZIG_RENAME_FAILED = "failed to rename compilation results"
ZIG_RETRY_NOTE = (
    "note: zig needed something dream's warm-up did not compile (other targets or flags), and a build "
    "only reads the shared zig cache; running the step again with a zig cache of its own (slower: zig "
    "compiles all it links once more)"
)


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
        on_wasm: Callable[[bytes], None] | None = None,
    ) -> BuildResult:
        """`on_wasm` gets the module as soon as the build wrote it, before it is zipped."""
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
        # Held until the compilers are done: a warm-up then waits for this build, and this build for a
        # warm-up, so neither sees the shared cache half rewritten.
        reading = contextlib.ExitStack()
        try:
            reading.enter_context(reading_shared_cache(self.lang, log=emit, timeout=timeout, cancel=cancel))
        except CompileError as exc:
            return fail(f"cannot build {src}: {exc}")
        with reading, tempfile.TemporaryDirectory(prefix="dream-build-") as tmp:
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

            def wrap(argv: list[str], env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
                if sandbox is None:
                    return argv, dict(env)
                return sandbox.command(argv, env=env, work=work, cwd=dirs["src"], cache=cache)

            # Every script is written before the first step runs: a step may change the job's folder
            # (even make `steps/` a link elsewhere), and dream writes nothing there after it.
            scripts: dict[str, Path] = {}
            standard = False
            for step in steps:
                try:
                    script = self._step_script(src, step)
                except ValueError as exc:
                    return fail(str(exc))
                if script is None:
                    return fail(f"workflow step '{step}' has no .taubyte/{step}.sh in {src}; add that script")
                scripts[step] = work / "steps" / f"{step}.sh"
                scripts[step].write_text(remap_paths(script, dirs))
                standard = steps == (step,) and is_standard_wasm_step(script)
            direct = self._direct_go(dirs, env, work) if standard else None

            deadline = start + timeout
            for step in steps:
                path = scripts[step]
                emit(
                    f"--- step {step}"
                    + (" (the standard script: dream runs go build itself)" if direct else "")
                )
                first_line = len(lines)
                if isinstance(direct, CompileError):  # what the step's compile would have printed
                    relay(f"error: {direct}")
                    run = StepRun(1, [])
                else:
                    run = run_step(
                        path if direct is None else direct,
                        cwd=dirs["src"],
                        env=env,
                        timeout=deadline - time.monotonic(),
                        on_line=relay,
                        cancel=cancel,
                        wrap=wrap,
                    )
                    if direct is not None and run.returncode:
                        relay(f"error: go exited with code {run.returncode}")
                if run.returncode and self._zig_cache_refused(sandbox, run.output):
                    emit(ZIG_RETRY_NOTE)
                    private = str(work / PRIVATE_ZIG_CACHE)
                    first_line = len(lines)
                    run = run_step(
                        path,
                        cwd=dirs["src"],
                        env={**env, "ZIG_GLOBAL_CACHE_DIR": private, "ZIG_LOCAL_CACHE_DIR": private},
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
                if dirs["out"].is_symlink() or not dirs["out"].is_dir():
                    # dream would read (and delete ret-code in) whatever the link points at.
                    return fail(f"step '{step}' of {src} replaced /out with a link or a file; write into it")
                code = self._ret_code(dirs["out"], run.returncode)
                if code != 0:
                    output = [line for line in lines[first_line:] if line.strip()]
                    tail = "\n".join(output[-ERROR_TAIL_LINES:]) or "(the step printed nothing)"
                    why = explain(run.output, work=work, visible=visible_dirs(work)) if sandbox else ""
                    return fail(
                        f"build of {src} failed in step '{step}' (exit code {code}):\n{tail}"
                        + (f"\n{why}" if why else "")
                    )
            reading.close()  # the steps are over: nothing reads the shared cache any more
            result = self._collect(dirs["out"], out, src, emit, fail, start, on_wasm)
            return replace(result, log="\n".join(lines))

    def _direct_go(
        self, dirs: dict[str, Path], env: Mapping[str, str], work: Path
    ) -> list[str] | CompileError | None:
        """The `go build` command of the standard Go step, its module laid out by dream beforehand: the
        step then runs the compiler alone in the sandbox, without the shell and the Python start-up
        (~0.3 s of a save) its script would pay. None when the step must run as written: another
        language, a source holding links (dream follows none outside the sandbox), no staged SDK.
        A CompileError is the step's own failure (no Go files), reported as the step would."""
        if self.lang != "go" or staged_go_sdk() is None or _holds_links(dirs["src"]):
            return None
        name = env.get("FILENAME") or "main"
        try:
            return prepare_go_module(
                dirs["src"], dirs["out"] / f"{name}.wasm", work, staged_go_sdk(), env.get("GOFLAGS")
            )
        except CompileError as exc:
            return exc
        except (OSError, ValueError) as exc:  # a source file that is not UTF-8 text, say
            return CompileError(f"cannot prepare the Go module: {exc}")

    def _zig_cache_refused(self, sandbox: Sandbox | None, output: list[str]) -> bool:
        """Whether zig failed to add an entry to the layered shared cache: zig moves each new entry in as a
        directory, and an overlay made without privileges refuses to rename directories (EXDEV), or onto
        an entry that is already there (a manifest another toolchain copy rewrote: zig says FileSystem)."""
        if self.lang not in ZIG_LANGS or sandbox is None or not sandbox.layered:
            return False
        return any("CrossDevice" in line or ZIG_RENAME_FAILED in line for line in output)

    def _step_script(self, src: Path, step: str) -> str | None:
        for folder in STEP_DIRS:
            candidate = src / folder / f"{step}.sh"
            if candidate.is_file():
                # A link may point anywhere on this machine: dream reads no file outside the project.
                if not candidate.resolve().is_relative_to(src.resolve()):
                    raise ValueError(
                        f"{candidate} is a link to {candidate.resolve()}, outside {src}; a step script must"
                        " be a file of the project"
                    )
                return candidate.read_text()
        if step == "build":
            return DEFAULT_WEBSITE_STEP if self.website else DEFAULT_WASM_STEP
        return None

    @staticmethod
    def _ret_code(out_dir: Path, returncode: int) -> int:
        """Upstream scripts report through /out/ret-code; honour it and the shell's own exit code."""
        ret_file = out_dir / "ret-code"
        if ret_file.is_symlink():  # dream follows no link the build made: it may point anywhere
            ret_file.unlink()
            return returncode or 1
        if not ret_file.is_file():
            return returncode
        with ret_file.open("rb") as handle:
            text = handle.read(64).decode("utf-8", "replace").strip()
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
        on_wasm: Callable[[bytes], None] | None = None,
    ) -> BuildResult:
        artifact = dest / "artifact.zip"
        try:
            outputs = _output_files(out_dir)
        except ValueError as exc:
            return fail(f"the build of {src} {exc}")
        if self.website:
            if not outputs:
                return fail(f"the website build of {src} produced no files in /out")
            with zipfile.ZipFile(artifact, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, path in sorted(outputs.items()):
                    _add(archive, name, path.read_bytes())
            emit(f"website: {len(outputs)} files zipped")
            return BuildResult(True, artifact, None, "", time.monotonic() - start, False, None)
        wasm = _find_wasm(outputs)
        if wasm is None:
            return fail(f"the build of {src} wrote no main.wasm (or artifact.wasm) into /out")
        main = dest / "main.wasm"
        data = wasm.read_bytes()
        if on_wasm is not None:
            on_wasm(data)  # first: the compile for the substrates runs while the rest is written
        main.write_bytes(data)
        with zipfile.ZipFile(artifact, "w", zipfile.ZIP_DEFLATED) as archive:
            _add(archive, "main.wasm", data)
        emit(f"success: main.wasm {main.stat().st_size} bytes in {time.monotonic() - start:.2f}s")
        return BuildResult(True, artifact, main, "", time.monotonic() - start, False, None)


def _describe(sandbox: Sandbox, cache: Path | None) -> str:
    if cache is None:
        caches = ""
    elif sandbox.layered:
        caches = "; compiler cache: shared, read-only (writes last as long as the step)"
    else:
        caches = (
            "; compiler cache: shared and WRITABLE (it cannot be layered here: a build can change what"
            " other projects' builds link; see docs/security.md)"
        )
    return f"sandbox: bubblewrap; no network; writable: the job's folder only{caches}"


def _holds_links(folder: Path) -> bool:
    """Whether anything under `folder` is a symbolic link."""
    for dirpath, dirs, names in os.walk(folder):
        if any(os.path.islink(os.path.join(dirpath, name)) for name in (*dirs, *names)):
            return True
    return False


def _output_files(out_dir: Path) -> dict[str, Path]:
    """The regular files the build left in /out, by their name there. A link counts as the file it points
    to when that is in /out; a link out of /out is refused (dream would read a file of this machine)."""
    root = out_dir.resolve()
    found: dict[str, Path] = {}
    for dirpath, _dirs, names in os.walk(root):  # links to directories are not entered
        for name in names:
            path = Path(dirpath) / name
            target = path.resolve()
            if not target.is_relative_to(root):
                rel = path.relative_to(root).as_posix()
                raise ValueError(
                    f"left a link /out/{rel} to {target}, outside /out; copy the file into /out instead"
                )
            if target.is_file():
                found[path.relative_to(root).as_posix()] = target
    return found


def _find_wasm(outputs: dict[str, Path]) -> Path | None:
    for name in ("main.wasm", "artifact.wasm"):
        if name in outputs:
            return outputs[name]
    found = [path for name, path in outputs.items() if "/" not in name and name.endswith(".wasm")]
    return found[0] if len(found) == 1 else None


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data, compresslevel=ARTIFACT_COMPRESSLEVEL)
