"""Static websites from a website artefact (a zip of the build's output directory)."""

from __future__ import annotations

import io
import mimetypes
import zipfile
from pathlib import Path


def unpack(data: bytes, into: Path) -> Path:
    """Unpack once per CID; members that would land outside the site are refused."""
    if into.is_dir():
        return into
    staging = into.with_suffix(".tmp")
    staging.mkdir(parents=True, exist_ok=True)
    root = staging.resolve()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in archive.infolist():
            target = (staging / member.filename).resolve()
            if not str(target).startswith(str(root)):
                raise ValueError(f"website artefact member {member.filename!r} escapes the site")
        archive.extractall(staging)
    staging.rename(into)
    return into


def find(site: Path, relative: str) -> Path | None:
    """The file for a request path inside `site` (directories serve index.html); None if absent or outside."""
    root = site.resolve()
    target = (site / relative.lstrip("/")).resolve()
    if target != root and not str(target).startswith(str(root) + "/"):
        return None
    if target.is_dir():
        target = target / "index.html"
    return target if target.is_file() else None


def content_type(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    if guessed and (guessed.startswith("text/") or guessed in ("application/javascript", "application/json")):
        return f"{guessed}; charset=utf-8"
    return guessed or "application/octet-stream"
