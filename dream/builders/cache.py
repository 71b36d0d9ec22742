"""Build cache: key = (source tree content, toolchain version, build config, dream SDK, builder code)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

# Bump when something outside the builder package (whose code is hashed into every key) changes
# artefacts for identical inputs.
BUILDER_REVISION = "1"
IGNORED_DIRS = {".git"}
# Not part of what the builder does: byte-compiled copies of its modules.
CODE_IGNORED_DIRS = {"__pycache__"}
BUILDERS_DIR = Path(__file__).resolve().parent


def tree_hash(root: Path) -> str:
    """Content hash of a directory: relative paths, exec bits, file bytes (symlinks by target)."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS)
        base = Path(dirpath)
        for name in sorted(filenames):
            path = base / name
            rel = path.relative_to(root).as_posix()
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                payload = b"link:" + os.readlink(path).encode()
            else:
                payload = path.read_bytes()
            mode = b"x" if info.st_mode & stat.S_IXUSR else b"-"
            digest.update(f"{len(rel)}:{rel}".encode() + mode + f"{len(payload)}:".encode() + payload)
    return digest.hexdigest()


def code_digest(package: Path) -> str:
    """Content hash of a package's source files (paths relative to it, so a copy hashes the same)."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(package):
        dirnames[:] = sorted(d for d in dirnames if d not in CODE_IGNORED_DIRS)
        base = Path(dirpath)
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")):
                continue
            rel = (base / name).relative_to(package).as_posix()
            data = (base / name).read_bytes()
            digest.update(f"{len(rel)}:{rel}{len(data)}:".encode() + data)
    return digest.hexdigest()


@functools.cache
def builder_code_digest() -> str:
    """The builder package's own code (steps, environment, toolchain lookup, sandbox, ...): a change
    there can change artefacts, so it is part of every key. Computed once per process."""
    return code_digest(BUILDERS_DIR)


def cache_key(
    *,
    source_hash: str,
    builder: str,
    toolchain_version: str | None,
    image: str,
    variables: Mapping[str, str],
    workflow: Sequence[str],
    sdk_hash: str,
) -> str:
    material = {
        "revision": BUILDER_REVISION,
        "source": source_hash,
        "builder": builder,
        "toolchain": toolchain_version,
        "image": image,
        "variables": dict(sorted(variables.items())),
        "workflow": list(workflow),
        "sdk": sdk_hash,
        "code": builder_code_digest(),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def entry_dir(cache_dir: Path, key: str) -> Path:
    return cache_dir / key[:2] / key
