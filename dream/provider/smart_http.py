"""Git's smart HTTP protocol, served by git's own `git http-backend` (CGI) run per request.

Why the CGI and not dulwich's WSGI server: starlette 1.10 still ships `WSGIMiddleware` but deprecates
it, and it buffers whole request bodies; `git http-backend` is the reference server side of the
protocol, so every real client feature (protocol v2, shallow clones, gzip-encoded and chunked
request bodies, side-band progress) works byte for byte, and git runs the receive hooks itself,
which tells us exactly which refs a push changed (`<before> <after> <ref>` lines on post-receive's
stdin). The cost is one short-lived process per request (a few ms), fine for a local stand-in.
Request and response bodies are streamed, so large pushes and clones do not sit in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from dream.provider.gitcli import git_env

BACKEND_TIMEOUT = 600.0  # a push or clone stuck longer than this is killed
CHUNK = 64 * 1024
PUSH_LOG_ENV = "DREAM_PUSH_LOG"
HOOK = f"""#!/bin/sh
# Installed by dream's git provider: hands the refs a push changed ("<before> <after> <ref>" lines)
# to the HTTP request that ran this push, which turns them into webhook deliveries.
if [ -n "${PUSH_LOG_ENV}" ]; then cat >> "${PUSH_LOG_ENV}"; fi
exit 0
"""

log = logging.getLogger(__name__)
_watchers: set[asyncio.Task[None]] = set()  # strong references, so running watchers are not collected


def install_hooks(directory: Path) -> Path:
    """The hooks directory every served repository uses (set through `core.hooksPath`)."""
    directory.mkdir(parents=True, exist_ok=True)
    hook = directory / "post-receive"
    if not hook.exists() or hook.read_text() != HOOK:
        hook.write_text(HOOK)
    hook.chmod(0o755)
    return directory


def cgi_env(request: Request, project_root: Path, path_info: str, hooks_dir: Path) -> dict[str, str]:
    headers = request.headers
    config = {
        "http.receivepack": "true",  # pushes are anonymous in dream, like a trusted local network
        "http.uploadpack": "true",
        "core.hooksPath": str(hooks_dir),
        "receive.denyDeleteCurrent": "warn",
    }
    env = git_env(
        {
            "GIT_PROJECT_ROOT": str(project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_METHOD": request.method,
            "PATH_INFO": path_info,
            "QUERY_STRING": request.url.query,
            "REMOTE_ADDR": request.client.host if request.client else "127.0.0.1",
            "CONTENT_TYPE": headers.get("content-type", ""),
            "GIT_CONFIG_COUNT": str(len(config)),
        }
    )
    for index, (key, value) in enumerate(config.items()):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    if "content-length" in headers:
        env["CONTENT_LENGTH"] = headers["content-length"]
    for header in ("content-encoding", "git-protocol"):
        if header in headers:
            env["HTTP_" + header.upper().replace("-", "_")] = headers[header]
    return env


class PipeResponse(Response):
    """Streams `chunks` as the body without touching `receive`.

    Starlette's StreamingResponse listens for disconnects by calling `receive()` while it streams,
    which would steal the request body chunks the feeder is still piping into git (a push's pack).
    """

    def __init__(self, chunks: AsyncIterator[bytes], status_code: int, headers: dict[str, str]) -> None:
        # Not Response.__init__: it would add `content-length: 0` for the empty initial body.
        self.status_code = status_code
        self.background = None
        self.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.chunks = chunks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async for chunk in self.chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _feed(request: Request, stdin: asyncio.StreamWriter) -> None:
    try:
        async for chunk in request.stream():
            if chunk:
                stdin.write(chunk)
                await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # git stopped reading (it answered an error); the response says why
    finally:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            stdin.close()


async def _read_head(stdout: asyncio.StreamReader) -> tuple[int, dict[str, str]] | None:
    """CGI response headers (`Status: 404 Not Found`, `Content-Type: ...`), or None at early EOF."""
    status, headers = 200, {}
    while True:
        line = await stdout.readline()
        if not line:
            return None
        text = line.decode("latin-1").rstrip("\r\n")
        if not text:
            return status, headers
        name, _, value = text.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split(" ", 1)[0])
        else:
            headers[name.strip()] = value.strip()


async def http_backend(
    request: Request,
    *,
    project_root: Path,
    path_info: str,
    hooks_dir: Path,
    on_exit: Callable[[int | None, str | None], None] | None = None,
    capture_pushes: bool = False,
) -> Response:
    """Run one smart-HTTP request through `git http-backend`.

    `on_exit(returncode, push_log)` is called exactly once when git is done (or was killed), with
    the post-receive lines when `capture_pushes` is set, whether or not the response was consumed.
    """
    env = cgi_env(request, project_root, path_info, hooks_dir)
    push_log: str | None = None
    if capture_pushes:
        fd, push_log = tempfile.mkstemp(prefix="dream-push-", suffix=".log")
        os.close(fd)
        env[PUSH_LOG_ENV] = push_log

    def finish(returncode: int | None) -> None:
        text: str | None = None
        if push_log is not None:
            with contextlib.suppress(OSError):
                text = Path(push_log).read_text()
                os.unlink(push_log)
        if on_exit is not None:
            on_exit(returncode, text)

    try:
        process = await asyncio.create_subprocess_exec(
            "git",
            "http-backend",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
    except OSError as error:
        finish(None)
        return PlainTextResponse(f"could not start `git http-backend`: {error}; is git installed?\n", 500)
    assert process.stdin and process.stdout and process.stderr
    feeder = asyncio.create_task(_feed(request, process.stdin))
    errors = asyncio.create_task(process.stderr.read())

    async def watch() -> None:
        # Independent of the response so that cleanup and push detection happen even when the
        # client goes away before reading the body.
        try:
            await asyncio.wait_for(process.wait(), BACKEND_TIMEOUT)
        except TimeoutError:
            log.warning("git http-backend %s ran over %ss and was killed", path_info, BACKEND_TIMEOUT)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            raise
        finally:
            feeder.cancel()
            stderr = (await errors).decode(errors="replace").strip() if not errors.cancelled() else ""
            if process.returncode and stderr:
                log.warning("git http-backend %s exited %s: %s", path_info, process.returncode, stderr)
            finish(process.returncode)

    watcher = asyncio.create_task(watch())
    _watchers.add(watcher)
    watcher.add_done_callback(_watchers.discard)
    head = await _read_head(process.stdout)
    if head is None:
        await watcher
        message = (await errors).decode(errors="replace").strip() if errors.done() else ""
        return PlainTextResponse(f"git http-backend failed for {path_info}: {message or 'no output'}\n", 500)
    status, headers = head

    async def body() -> AsyncIterator[bytes]:
        complete = False
        try:
            while chunk := await process.stdout.read(CHUNK):
                yield chunk
            complete = True
        finally:
            if not complete and process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()

    return PipeResponse(body(), status, headers)
