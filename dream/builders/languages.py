"""Per-language compile commands, run by `step.py` inside a build step (our stand-in for /utils/wasm.sh)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

from dream.builders.paths import sdk_dir, tool_cache_dir
from dream.builders.toolchains import (
    RUST_TARGET,
    Toolchain,
    assemblyscript_toolchain,
    go_toolchain,
    node_path,
    rust_toolchain,
    zig_toolchain,
)

GO_SDK_MODULE = "github.com/taubyte/go-sdk"
AS_SDK_NAME = "@taubyte/sdk"
RUST_SDK_CRATE = "taubyte_sdk"
SKIP_DIRS = {".taubyte", "taubyte", ".git", "node_modules", "target", ".zig-cache", "zig-cache"}


class CompileError(Exception):
    """A compile step failed; the compiler's own output has already been printed to the log."""


def _require(chain: Toolchain) -> Path:
    if not chain.found or chain.path is None:
        raise CompileError(
            f"the {chain.name} toolchain is not installed; install it with: {chain.install_command}"
        )
    return chain.path


def _run(cmd: list[str], cwd: Path) -> None:
    # Output goes straight to the step's stdout, which the builder streams into the build log.
    proc = subprocess.run(cmd, cwd=cwd, check=False)
    if proc.returncode != 0:
        raise CompileError(f"{Path(cmd[0]).name} exited with code {proc.returncode}")


def _sources(src: Path, suffix: str) -> list[Path]:
    found = []
    for path in sorted(src.rglob(f"*{suffix}")):
        rel = path.relative_to(src)
        if not SKIP_DIRS.intersection(rel.parts[:-1]):
            found.append(path)
    return found


def _entry(src: Path, candidates: tuple[str, ...], suffix: str) -> Path:
    for name in candidates:
        if (src / name).is_file():
            return src / name
    top = [p for p in src.glob(f"*{suffix}") if p.is_file()]
    if len(top) == 1:
        return top[0]
    raise CompileError(
        f"cannot find the entry file in {src}: expected one of {', '.join(candidates)}"
        f" or a single *{suffix} file at the top level"
    )


def _tree_digest(root: Path) -> str:
    """A digest of every file under `root`, their names and contents. Each Go save asked for the SDK's
    three times (~12 ms of reading and hashing): it is kept until a file's size or time changes."""
    stamps = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                st = os.stat(path)
                if stat.S_ISREG(st.st_mode):
                    stamps.append((path, st.st_size, st.st_mtime_ns))
    # Ordered as paths are (by their parts), so the digest is the one files always had.
    return _contents_digest(root, tuple(sorted(stamps, key=lambda stamp: stamp[0].split(os.sep))))


@functools.lru_cache(maxsize=32)
def _contents_digest(root: Path, stamps: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, _size, _mtime in stamps:
        path = Path(name)
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _stage(name: str, source: Path, fill: Callable[[Path], None]) -> Path:
    """Copy an SDK once per content version into the tool cache (atomic rename, so races are harmless)."""
    target = tool_cache_dir() / "sdk" / f"{name}-{_tree_digest(source)}"
    if target.is_dir():
        return target
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    fill(tmp)
    try:
        tmp.rename(target)
    except OSError:  # another build staged it first
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# --- Go ---------------------------------------------------------------------------------------------

_EXPORT_RE = re.compile(r"^(\s*)//export\s+([A-Za-z_]\w*)\s*$", re.MULTILINE)
_WASM_MODULE_RE = re.compile(
    r"^\s*//go:wasm-module\s+(\S+)\s*\n((?:\s*//.*\n)*?)(\s*)//export\s+(\w+)\s*$", re.MULTILINE
)
_PACKAGE_RE = re.compile(r"^package\s+([A-Za-z_]\w*)", re.MULTILINE)
_MODULE_RE = re.compile(r"^module\s+(\S+)", re.MULTILINE)
# The SDK's one use of net/url is `WebSocket.Url` (upstream's API returns a url.URL). net/url's package
# initialisation (net/netip's, unique's, fmt's) is ~400 KB of every Go function's ~2.4 MB module, which
# each save then links, deflates and compiles: a function that cannot call Url is built without it.
GO_WITHOUT_NET_URL_TAG = "dream_without_net_url"
_URL_NAME_RE = re.compile(r"\bUrl\b")
# A tag no file uses: the warm-up's second build, with the whole SDK (any `-tags` in GOFLAGS means that).
GO_WHOLE_SDK_WARM_TAG = "dream_warm_whole_sdk"


def stage_go_sdk() -> Path:
    def fill(target: Path) -> None:
        shutil.copytree(sdk_dir() / "go", target, dirs_exist_ok=True)
        (target / "go.mod").write_text(f"module {GO_SDK_MODULE}\n\ngo 1.24\n")

    return _stage("go", sdk_dir() / "go", fill)


def rewrite_go_source(text: str) -> str:
    """TinyGo directives → gc ones: `//export f` exports f; `//go:wasm-module m` + `//export f` imports it."""
    text = _WASM_MODULE_RE.sub(
        lambda m: f"{m.group(2)}{m.group(3)}//go:wasmimport {m.group(1)} {m.group(4)}", text
    )
    return _EXPORT_RE.sub(lambda m: f"{m.group(1)}//go:wasmexport {m.group(2)}", text)


def _go_requires(gomod: str) -> list[str]:
    """Requirements to keep: everything except taubyte modules, which resolve to dream's SDK."""
    kept: list[str] = []
    in_block = False
    for raw in gomod.splitlines():
        line = raw.split("//")[0].strip()
        if in_block:
            if line == ")":
                in_block = False
            elif line and not line.startswith("github.com/taubyte/"):
                kept.append(line)
        elif line.startswith("require ("):
            in_block = True
        elif line.startswith("require "):
            entry = line[len("require ") :].strip()
            if not entry.startswith("github.com/taubyte/"):
                kept.append(entry)
    return kept


def staged_go_sdk() -> Path | None:
    """The Go SDK's staged copy when the warm-up made it (a build outside a step must not write it)."""
    target = tool_cache_dir() / "sdk" / f"go-{_tree_digest(sdk_dir() / 'go')}"
    return target if target.is_dir() else None


def prepare_go_module(
    src: Path, out_file: Path, work: Path, sdk: Path | None = None, goflags: str | None = None
) -> list[str]:
    """Lay the function's Go module out in `work/go-module` (TinyGo directives rewritten, the SDK
    replaced by dream's staged copy) and return the `go build` command that compiles it into
    `out_file`, to run in that folder (`goflags`: the GOFLAGS the step runs with)."""
    go = _require(go_toolchain())
    module = work / "go-module"
    shutil.rmtree(module, ignore_errors=True)
    shutil.copytree(
        src, module, ignore=shutil.ignore_patterns(".taubyte", "taubyte", ".git", "*_test.go", "go.work*")
    )
    packages: set[str] = set()
    names_url = False
    for path in module.rglob("*.go"):
        text = path.read_text()
        names_url = names_url or _URL_NAME_RE.search(text) is not None
        path.write_text(rewrite_go_source(text))
        if path.parent == module and (match := _PACKAGE_RE.search(text)):
            packages.add(match.group(1))
    if not packages:
        raise CompileError(
            f"no Go files at the top level of {src}; put the function's package (e.g. `package lib`) there"
        )
    gomod_path = module / "go.mod"
    gomod = gomod_path.read_text() if gomod_path.is_file() else ""
    match = _MODULE_RE.search(gomod)
    module_path = match.group(1) if match else "function"
    others = _go_requires(gomod)
    requires = "".join(f"\t{req}\n" for req in [f"{GO_SDK_MODULE} v0.0.0", *others])
    gomod_path.write_text(
        f"module {module_path}\n\ngo 1.24\n\nrequire (\n{requires})\n\n"
        f"replace {GO_SDK_MODULE} => {sdk or stage_go_sdk()}\n"
    )
    target = "."
    if "main" not in packages:
        # gc accepts //go:wasmexport outside package main; a blank import links the user's package in.
        (module / "dreammain").mkdir()
        (module / "dreammain" / "main.go").write_text(
            f'// Generated by dream: links the function package into a wasip1 reactor.\npackage main\n\nimport _ "{module_path}"\n\nfunc main() {{}}\n'
        )
        target = "./dreammain"
    # Only the function's own files can name Url: a module it requires, or build tags of its own in
    # GOFLAGS (which `-tags` would replace), get the whole SDK.
    without_url = not names_url and not others and "-tags" not in (goflags or "")
    return [
        str(go),
        "-C",
        str(module),
        "build",
        "-trimpath",
        *([f"-tags={GO_WITHOUT_NET_URL_TAG}"] if without_url else []),
        "-buildmode=c-shared",
        "-o",
        str(out_file),
        target,
    ]


def compile_go(src: Path, out_file: Path, work: Path) -> None:
    _run(prepare_go_module(src, out_file, work, goflags=os.environ.get("GOFLAGS")), cwd=work / "go-module")


# --- C and Zig (zig toolchain) ------------------------------------------------------------------------


def compile_c(src: Path, out_file: Path, work: Path) -> None:
    zig = _require(zig_toolchain())
    files = _sources(src, ".c")
    if not files:
        raise CompileError(f"no .c files in {src}")
    # zig cc's default 16 MiB stack would not fit a function's usual `execution.memory` (e.g. 10MB).
    cmd = [
        str(zig),
        "cc",
        "-target",
        "wasm32-wasi",
        "-mexec-model=reactor",
        "-Os",
        "-s",
        "-Wl,-z,stack-size=1048576",
    ]
    cmd += ["-I", str(sdk_dir() / "c"), "-I", str(src), "-o", str(out_file), *map(str, files)]
    _run(cmd, cwd=src)


def compile_zig(src: Path, out_file: Path, work: Path) -> None:
    zig = _require(zig_toolchain())
    entry = _entry(src, ("main.zig", "lib.zig", "src/main.zig", "src/lib.zig"), ".zig")
    cmd = [
        str(zig),
        "build-exe",
        "-target",
        "wasm32-freestanding",
        "-fno-entry",
        "-rdynamic",
        "-O",
        "ReleaseSmall",
    ]
    cmd += ["--dep", "taubyte", f"-Mroot={entry}", f"-Mtaubyte={sdk_dir() / 'zig' / 'taubyte.zig'}"]
    cmd += [f"-femit-bin={out_file}"]
    _run(cmd, cwd=src)


# --- Rust (Debian rustc, std only) ---------------------------------------------------------------------


def rust_sdk_rlib() -> Path:
    rustc = _require(rust_toolchain())
    source = sdk_dir() / "rust" / "taubyte.rs"
    # Every file of the crate (taubyte.rs and the modules it declares) makes the cached rlib's name.
    files = b"".join(p.read_bytes() for p in sorted((sdk_dir() / "rust").glob("*.rs")))
    digest = hashlib.sha256(files + str(rust_toolchain().version).encode()).hexdigest()[:16]
    rlib = tool_cache_dir() / "rust" / digest / f"lib{RUST_SDK_CRATE}.rlib"
    if not rlib.is_file():
        rlib.parent.mkdir(parents=True, exist_ok=True)
        tmp = rlib.with_name(f"tmp-{os.getpid()}.rlib")
        cmd = [str(rustc), "--edition", "2021", "--crate-type", "rlib", "--crate-name", RUST_SDK_CRATE]
        cmd += ["--target", RUST_TARGET, "-O", "--color", "never", "-o", str(tmp), str(source)]
        _run(cmd, cwd=rlib.parent)
        tmp.rename(rlib)
    return rlib


def compile_rust(src: Path, out_file: Path, work: Path) -> None:
    rustc = _require(rust_toolchain())
    entry = _entry(src, ("lib.rs", "src/lib.rs"), ".rs")
    rlib = rust_sdk_rlib()
    cmd = [str(rustc), "--edition", "2021", "--target", RUST_TARGET, "--crate-type", "cdylib", "-O"]
    cmd += ["-C", "strip=symbols", "--color", "never", "--extern", f"{RUST_SDK_CRATE}={rlib}"]
    cmd += ["-o", str(out_file), str(entry)]
    _run(cmd, cwd=src)


# --- AssemblyScript ----------------------------------------------------------------------------------


def stage_as_sdk() -> Path:
    def fill(target: Path) -> None:
        shutil.copytree(sdk_dir() / "assemblyscript", target / AS_SDK_NAME)

    return _stage("assemblyscript", sdk_dir() / "assemblyscript", fill)


def compile_assemblyscript(src: Path, out_file: Path, work: Path) -> None:
    asc = _require(assemblyscript_toolchain())
    node = node_path()
    if node is None:
        raise CompileError("node is not on PATH; install Node.js 20+ to build AssemblyScript functions")
    entry = _entry(src, ("assembly/index.ts", "index.ts", "src/index.ts"), ".ts")
    # `--use abort=` drops the env.abort import, which Taubyte hosts do not provide.
    cmd = [str(node), str(asc), str(entry), "-o", str(out_file), "-O3", "--use", "abort="]
    cmd += ["--path", str(stage_as_sdk())]
    _run(cmd, cwd=src)


# --- WAT and prebuilt modules ---------------------------------------------------------------------------


def compile_wat(src: Path, out_file: Path, work: Path) -> None:
    import wasmtime

    entry = _entry(src, ("main.wat", "lib.wat", "function.wat"), ".wat")
    try:
        binary = wasmtime.wat2wasm(entry.read_text())
    except wasmtime.WasmtimeError as exc:
        # wasmtime names the text `<anon>`: name the file, so the error reads `--> main.wat:15:1`.
        print(f"{entry.name}: {str(exc).replace('<anon>', entry.name)}", flush=True)
        raise CompileError(f"{entry.name} is not valid WebAssembly text") from None
    out_file.write_bytes(binary)


def copy_prebuilt(src: Path, out_file: Path, work: Path) -> None:
    import zipfile

    for name in ("main.wasm", "artifact.wasm"):
        if (src / name).is_file():
            shutil.copyfile(src / name, out_file)
            return
    wasm = [p for p in src.glob("*.wasm") if p.is_file()]
    zwasm = [p for p in src.glob("*.zwasm") if p.is_file()]
    if len(wasm) == 1:
        shutil.copyfile(wasm[0], out_file)
        return
    if len(zwasm) == 1:
        with zipfile.ZipFile(zwasm[0]) as archive:
            names = [n for n in ("main.wasm", "artifact.wasm") if n in archive.namelist()]
            if not names:
                raise CompileError(f"{zwasm[0].name} holds no main.wasm or artifact.wasm")
            out_file.write_bytes(archive.read(names[0]))
        return
    raise CompileError(f"{src} needs exactly one prebuilt .wasm or .zwasm file (or a main.wasm)")


def copy_website(src: Path, out_dir: Path, work: Path) -> None:
    """Plain static site: the files themselves are the build output."""
    for path in sorted(src.iterdir()):
        if path.name in {".taubyte", ".git"}:
            continue
        if path.is_dir():
            shutil.copytree(path, out_dir / path.name, dirs_exist_ok=True)
        else:
            shutil.copy2(path, out_dir / path.name)


COMPILERS: dict[str, Callable[[Path, Path, Path], None]] = {
    "go": compile_go,
    "c": compile_c,
    "zig": compile_zig,
    "rust": compile_rust,
    "assemblyscript": compile_assemblyscript,
    "wat": compile_wat,
    "wasm": copy_prebuilt,
}


# --- Warm-up sources: dream's own code, compiled into the shared compiler cache (see shared_cache.py) ---

# Go: the SDK and the standard packages functions use most, so a layered build finds them compiled.
_GO_WARM = """package lib

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	_ "github.com/taubyte/go-sdk/common"
	_ "github.com/taubyte/go-sdk/errno"
	"github.com/taubyte/go-sdk/event"
	_ "github.com/taubyte/go-sdk/http/event"
)

var uses = []any{bytes.Compare, sha256.Sum256, base64.StdEncoding, hex.EncodeToString, json.Marshal,
	errors.New, fmt.Sprint, io.ReadAll, math.Abs, url.Parse, sort.Strings, strconv.Itoa, strings.Split,
	time.Now, utf8.RuneLen}

//export warm
func warm(e event.Event) uint32 { h, _ := e.HTTP(); h.Return(200 + len(uses)); return 0 }
"""

WARM_SOURCES: dict[str, dict[str, str]] = {
    "go": {"go.mod": "module function\n", "lib.go": _GO_WARM},
    "c": {"lib.c": "#include <string.h>\nint warm(char *p) { return (int)strlen(p); }\n"},
    "zig": {"main.zig": "export fn warm(x: u32) u32 { return x; }\n"},
    "rust": {"lib.rs": '#[no_mangle]\npub extern "C" fn warm(x: u32) -> u32 { x }\n'},
    "assemblyscript": {"assembly/index.ts": "export function warm(x: u32): u32 { return x; }\n"},
    "wat": {"main.wat": "(module)\n"},
}


SDK_SUBDIRS = {"go": "go", "c": "c", "zig": "zig", "rust": "rust", "assemblyscript": "assemblyscript"}


def sdk_digest(lang: str) -> str:
    """Fingerprint of what dream itself contributes to a build (its SDK and these compile commands)."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update((Path(__file__).parent / "scripts.py").read_bytes())
    sub = SDK_SUBDIRS.get(lang)
    if sub is not None and (sdk_dir() / sub).is_dir():
        digest.update(_tree_digest(sdk_dir() / sub).encode())
    return digest.hexdigest()
