"""`build_function`: build a function/website directory into a cached `artifact.zip` (+ `main.wasm`)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from dream.builders.base import BuildResult, LogFn
from dream.builders.cache import cache_key, entry_dir, tree_hash
from dream.builders.config import BuildConfigError, load_build_config
from dream.builders.images import builder_for_image, supported_images
from dream.builders.languages import sdk_digest

RESULT_FILE = "result.json"
LOG_FILE = "build.log"


def _failure(message: str, start: float, log: LogFn) -> BuildResult:
    log(f"error: {message}")
    return BuildResult(False, None, None, f"error: {message}", time.monotonic() - start, False, message)


def _cached(entry: Path, start: float, log: LogFn) -> BuildResult | None:
    try:
        meta = json.loads((entry / RESULT_FILE).read_text())
    except (OSError, ValueError):
        return None
    artifact = entry / "artifact.zip"
    wasm = entry / "main.wasm" if meta.get("wasm") else None
    if not artifact.is_file() or (wasm is not None and not wasm.is_file()):
        return None
    log(f"cached build {entry.name[:12]} reused (built in {meta.get('duration', 0):.2f}s)")
    text = (entry / LOG_FILE).read_text() if (entry / LOG_FILE).is_file() else ""
    return BuildResult(True, artifact, wasm, text, time.monotonic() - start, True, None)


def build_function(
    src_dir: Path,
    *,
    cache_dir: Path,
    log: LogFn = print,
    timeout: float = 300,
    cancel: threading.Event | None = None,
    on_wasm: Callable[[bytes], None] | None = None,
) -> BuildResult:
    """Build `src_dir` per its `.taubyte/config.yaml`; identical inputs return the cached artefact.
    Setting `cancel` stops a build in progress (it then fails, and nothing is cached). `on_wasm` gets a
    function's module as soon as it is built, before it is zipped (not on a cache hit)."""
    start = time.monotonic()
    src = Path(src_dir).resolve()
    if not src.is_dir():
        return _failure(f"{src} is not a directory; pass a function or website folder", start, log)
    try:
        config = load_build_config(src)
    except BuildConfigError as exc:
        return _failure(str(exc), start, log)
    builder = builder_for_image(config.image)
    if builder is None:
        return _failure(
            f"{src}: build image {config.image!r} is not supported; use one of {', '.join(supported_images())}",
            start,
            log,
        )
    chain = builder.toolchain()
    if not chain.found:
        return _failure(
            f"cannot build {src}: the {chain.name} toolchain for image {config.image} is not installed;"
            f" install it with: {chain.install_command}",
            start,
            log,
        )
    key = cache_key(
        source_hash=tree_hash(src),
        builder=builder.name,
        toolchain_version=chain.version,
        image=config.image,
        variables=config.variables,
        workflow=config.workflow,
        sdk_hash=sdk_digest(builder.lang),
    )
    entry = entry_dir(Path(cache_dir), key)
    if (hit := _cached(entry, start, log)) is not None:
        return hit
    staging = Path(cache_dir) / "tmp" / f"{key[:16]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        result = builder.build(
            src, staging, config=config, log=log, timeout=timeout, cancel=cancel, on_wasm=on_wasm
        )
        if not result.ok:
            return result
        (staging / LOG_FILE).write_text(result.log)
        (staging / RESULT_FILE).write_text(
            json.dumps({"wasm": result.wasm is not None, "duration": result.duration, "image": config.image})
        )
        entry.parent.mkdir(parents=True, exist_ok=True)
        # A concurrent build of the same inputs may have won; its artefact is identical.
        with contextlib.suppress(OSError):
            staging.rename(entry)
        return BuildResult(
            True,
            entry / "artifact.zip",
            entry / "main.wasm" if result.wasm is not None else None,
            result.log,
            time.monotonic() - start,
            False,
            None,
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
