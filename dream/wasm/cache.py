"""On-disk cache of compiled modules, so a Go function compiles once (~1 s) and later loads in ~0.1 ms.

Files are `Module.serialize()` output named by sha256 of the wasm bytes plus a tag for the wasmtime
version, CPU and engine settings (a precompiled module only loads into an identical engine). They are
read back with `Module.deserialize_file`, which mmaps instead of copying. A file that fails to load
(truncated, foreign) is recompiled and replaced.
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

log = logging.getLogger("dream.wasm")


def _wasmtime_version() -> str:
    try:
        return importlib.metadata.version("wasmtime")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - vendored wasmtime
        return "unknown"


class AotCache:
    """Compile-or-load for one engine. Counters tell callers (and tests) which path was taken."""

    def __init__(self, engine: wasmtime.Engine, directory: Path, settings: str) -> None:
        self.engine = engine
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        tag = f"wasmtime={_wasmtime_version()};arch={platform.machine()};{settings}"
        self.tag = hashlib.sha256(tag.encode()).hexdigest()[:16]
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

    def cid_path(self, cid: str) -> Path:
        return self.directory / "cid" / f"{cid}-{self.tag}.cwasm"

    def alias(self, cid: str, compiled: Path) -> None:
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

    def by_cid(self, cid: str) -> tuple[wasmtime.Module, Path] | None:
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
