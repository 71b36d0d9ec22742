"""The machine's cache of compiled modules: a Go function compiles once (~1 s), later loads in ~0.1 ms.

This is a contract between the processes of a machine: monkey compiles every build it publishes into
it (`dream.wasm.precompile`), and every substrate loads from it. Both go through `ModuleCache`; nothing
else reads or writes the directory.

Where: `default_directory()`, i.e. `<cache home>/wasm` (`~/.cache/dream/wasm`, or `$DREAM_CACHE/wasm`),
shared by every daemon on the machine.

Layout (`<tag>` is the first 16 hex digits of sha256 of `wasmtime=<version>;arch=<machine>;<engine
settings>`: a compiled module only loads into an identical engine, so another wasmtime, CPU or engine
setting never sees it):

    <sha256 of the wasm bytes>-<tag>.cwasm    `Module.serialize()` output (the content key)
    cid/<cid>-<tag>.cwasm                     a relative symlink to the above: the build stored as <cid>

Files are written to a temporary name and renamed into place, so a reader never maps a half-written
file, and read back with `Module.deserialize_file` (mmap, no copy). A file that fails to load
(truncated, foreign) is ignored with a warning and recompiled and replaced.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import platform
import threading
from pathlib import Path

import wasmtime

from dream.settings import cache_home

log = logging.getLogger("dream.wasm")

# Cranelift's level and register allocator for the baseline engine's trampolines
# (`dream.wasm.baseline`): part of its tag.
TRAMPOLINE_OPT_LEVEL = "none"
TRAMPOLINE_REGALLOC = "single_pass"


def wasmtime_version() -> str:
    try:
        return importlib.metadata.version("wasmtime")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - vendored wasmtime
        return "unknown"


def baseline_settings(settings: str) -> str:
    """The settings of the baseline engine (`dream.wasm.baseline`) beside an engine with `settings`."""
    return (
        f"strategy=winch;trampoline_opt_level={TRAMPOLINE_OPT_LEVEL};"
        f"trampoline_regalloc={TRAMPOLINE_REGALLOC};{settings}"
    )


def tag_for(settings: str) -> str:
    """The part of a cache file's name that says which engines can load it."""
    tag = f"wasmtime={wasmtime_version()};arch={platform.machine()};{settings}"
    return hashlib.sha256(tag.encode()).hexdigest()[:16]


def default_directory() -> Path:
    """Where the machine's compiled modules live: what monkey and the substrates agree on."""
    return cache_home() / "wasm"


class ModuleCache:
    """Compile-or-load for one engine (see the module's docstring for the layout and key).

    `module(wasm)` compiles or loads by content; `put(cid, compiled)` names a compiled module after the
    build it came from, `has(cid)` and `get(cid)` find it by that name. The counters tell callers (and
    tests) which path was taken.
    """

    def __init__(self, engine: wasmtime.Engine, directory: Path, settings: str) -> None:
        self.engine = engine
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.settings = settings
        self.tag = tag_for(settings)
        self._baseline_tag = tag_for(baseline_settings(settings))
        self.compiled = 0  # modules compiled from wasm bytes
        self.deserialized = 0  # modules loaded from a cache file
        self._lock = threading.Lock()

    def path_for(self, wasm: bytes) -> Path:
        return self.directory / f"{hashlib.sha256(wasm).hexdigest()}-{self.tag}.cwasm"

    def module(self, wasm: bytes) -> tuple[wasmtime.Module, Path]:
        """The compiled module for `wasm`; raises wasmtime.WasmtimeError if the bytes do not compile."""
        path = self.path_for(wasm)
        module = self._deserialize(path)
        if module is not None:
            return module, path
        module = wasmtime.Module(self.engine, wasm)
        with self._lock:
            self.compiled += 1
        self._store(path, module)
        return module, path

    def cid_path(self, cid: str, tag: str = "") -> Path:
        return self.directory / "cid" / f"{cid}-{tag or self.tag}.cwasm"

    def has(self, cid: str) -> bool:
        """Whether the build stored as `cid` was compiled on this machine, by this engine's compiler or
        the baseline one beside it (a substrate then needs no download)."""
        return self.cid_path(cid).exists() or self.has_baseline(cid)

    def has_baseline(self, cid: str) -> bool:
        """Whether the build stored as `cid` was compiled by the baseline compiler beside this engine."""
        return self.cid_path(cid, self._baseline_tag).exists()

    def put(self, cid: str, compiled: Path) -> None:
        """Name the compiled module of the build stored as `cid`: a substrate can then load it without
        downloading the build (a symlink, replaced atomically)."""
        link = self.cid_path(cid)
        try:
            link.parent.mkdir(parents=True, exist_ok=True)
            tmp = _beside(link)
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(os.path.relpath(compiled, link.parent))
            os.replace(tmp, link)
        except OSError as exc:
            log.warning("could not name compiled module %s after build %s: %s", compiled, cid, exc)

    def get(self, cid: str) -> tuple[wasmtime.Module, Path] | None:
        """The compiled module of the build stored as `cid`, if one was compiled on this machine."""
        link = self.cid_path(cid)
        module = self._deserialize(link)
        return None if module is None else (module, link.resolve())

    def _deserialize(self, path: Path) -> wasmtime.Module | None:
        """The compiled module in `path`, or None when there is none or it cannot be used."""
        if not path.exists():
            return None
        try:
            module = wasmtime.Module.deserialize_file(self.engine, str(path))
        except wasmtime.WasmtimeError as exc:
            log.warning("ignoring unusable compiled-module cache file %s: %s", path, exc)
            return None
        with self._lock:
            self.deserialized += 1
        return module

    def _store(self, path: Path, module: wasmtime.Module) -> None:
        # Write-then-rename so a concurrent reader never maps a half-written file.
        tmp = _beside(path)
        try:
            tmp.write_bytes(bytes(module.serialize()))
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("could not write compiled-module cache file %s: %s", path, exc)
            tmp.unlink(missing_ok=True)


def _beside(path: Path) -> Path:
    """A temporary name next to `path`, unique to this process and thread (for write-then-rename)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
