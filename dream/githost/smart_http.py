"""Git's smart HTTP protocol, served by git's own `git http-backend` (CGI), so real clients just work."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from dream.gitrun import CLEAN_ENV as GIT_ENV

# A push is refused up front when the disk holding the repositories has less free space than this (plus
# twice the pack it sends): git's own failure on a full disk is an `unpacker error` that says nothing.
MIN_FREE_FOR_PUSH = 8 * 1024 * 1024


def no_room_for_push(root: Path, pack_size: int = 0) -> str:
    """A sentence when the disk holding `root` cannot take a push of about `pack_size` bytes, else ""."""
    try:
        free = shutil.disk_usage(root).free
    except OSError:
        return ""
    needed = MIN_FREE_FOR_PUSH + 2 * pack_size
    if free >= needed:
        return ""
    return (
        f"no space left on the device holding the git host's repositories ({root}): {free // 1024} KiB "
        f"free, a push needs at least {needed // 1024} KiB; free some space there, then push again"
    )


async def http_backend(request: Request, root: Path) -> Response:
    body = await request.body()
    env = {
        **GIT_ENV,
        "GIT_PROJECT_ROOT": str(root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": request.url.path,
        "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.url.query,
        "CONTENT_TYPE": request.headers.get("content-type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_USER": "dream",
        "REMOTE_ADDR": "127.0.0.1",
        "GIT_PROTOCOL": request.headers.get("git-protocol", ""),
    }
    if request.headers.get("content-encoding"):
        env["HTTP_CONTENT_ENCODING"] = request.headers["content-encoding"]
    process = await asyncio.create_subprocess_exec(
        "git",
        "http-backend",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await process.communicate(body)
    head, sep, payload = out.partition(b"\r\n\r\n")
    if not sep:
        head, sep, payload = out.partition(b"\n\n")
    status = 200
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").splitlines():
        key, _, value = line.partition(":")
        if key.lower() == "status":
            status = int(value.strip().split(" ", 1)[0])
        elif key:
            headers[key.strip()] = value.strip()
    if process.returncode and not payload:
        return Response(err.decode(errors="replace") or "git http-backend failed", status_code=500)
    return Response(payload, status_code=status, headers=headers)
