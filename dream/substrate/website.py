"""Static websites: a website's artefact (a zip of its build's output directory) unpacked once per CID,
and its files served."""

from __future__ import annotations

import io
import mimetypes
import shutil
import stat
import uuid
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, PlainTextResponse, Response

from dream.errors import DreamError

if TYPE_CHECKING:
    import zipfile

    from dream.substrate.assets import Assets
    from dream.substrate.resolver import Resolver
    from dream.substrate.routing import Resource

# What a website artefact can hold, and what to do about one that holds something else.
FIX = "a website artefact holds only plain files under its build's output folder: rebuild the website"


class UnsafeArtefact(ValueError):
    """A website artefact that cannot be unpacked safely (nothing of it was written)."""


def _refusal(member: zipfile.ZipInfo, root: Path) -> str | None:
    """Why `member` may not be unpacked into `root`, or None when it is a plain file or folder inside."""
    name = member.filename
    if stat.S_ISLNK(member.external_attr >> 16):
        return f"member {name!r} is a symbolic link"
    # Backslashes count as separators: an artefact zipped on Windows may use them.
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")):
        return f"member {name!r} is an absolute path"
    if ".." in parts:
        return f"member {name!r} climbs out of the site folder with '..'"
    if not (root / name).resolve().is_relative_to(root):
        return f"member {name!r} would land outside the site folder"
    return None


def unpack(data: bytes, into: Path) -> Path:
    """Unpack a website artefact once per CID into `into`. An artefact with a member that is not a plain
    file or folder inside the site (`..`, an absolute path, a symbolic link) is refused whole:
    UnsafeArtefact, and nothing is written."""
    import zipfile  # here: only a node serving a website needs it

    if into.is_dir():
        return into
    into.parent.mkdir(parents=True, exist_ok=True)
    # Unique per call: two requests unpacking the same site at once never share a folder.
    staging = into.parent / f".{into.name}.{uuid.uuid4().hex[:8]}.tmp"
    root = staging.resolve()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.infolist():
                reason = _refusal(member, root)
                if reason is not None:
                    raise UnsafeArtefact(f"website artefact {into.name} refused: {reason}; {FIX}")
            staging.mkdir()
            archive.extractall(staging)
        try:
            staging.rename(into)
        except OSError:
            if not into.is_dir():  # another request unpacked the same site first: use that one
                raise
        return into
    except zipfile.BadZipFile as exc:
        raise UnsafeArtefact(
            f"website artefact {into.name} is not a readable zip file ({exc}); {FIX}"
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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


class Websites:
    """The websites a substrate serves, each build unpacked once per CID into `folder`."""

    def __init__(self, resolver: Resolver, assets: Assets, folder: Path) -> None:
        self.resolver = resolver
        self.assets = assets
        self.folder = folder
        self.unpacked: dict[str, Path] = {}  # cid → its folder

    async def serve(self, resource: Resource, prefix: str, path: str) -> Response:
        """The file of `resource` at request `path` (the website answers under `prefix`)."""
        try:
            cid = await self.resolver.asset_cid(resource)
            site = self.unpacked.get(cid)
            payload = await self.assets.get(cid, resource.name) if site is None else b""
        except DreamError as exc:
            return PlainTextResponse(str(exc), status_code=503)
        if site is None:
            try:
                site = await run_in_threadpool(unpack, payload, self.folder / cid)
            except ValueError as exc:
                return PlainTextResponse(str(exc), status_code=500)
            self.unpacked[cid] = site
        relative = path[len(prefix.rstrip("/")) :] if prefix != "/" else path
        found = find(site, relative or "/")
        if found is None:
            return PlainTextResponse(f"no file {path} in website {resource.name}", status_code=404)
        return FileResponse(found, media_type=content_type(found))
