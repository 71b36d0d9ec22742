"""Build cache: key = (source tree content, toolchain version, build config, dream SDK/builder revision)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

# Bump when builder behaviour changes in a way that alters artefacts for identical inputs.
BUILDER_REVISION = "1"
IGNORED_DIRS = {".git"}


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
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def entry_dir(cache_dir: Path, key: str) -> Path:
    return cache_dir / key[:2] / key
