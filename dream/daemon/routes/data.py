"""The data of a project's functions: its databases' keys and values, its storages' files (`dream data`).

    GET    /data/{universe}/{project}?app=                        its databases, storages and keyspaces
    GET    /data/{universe}/{project}/keys?database=&prefix=&app=  {database, keys}
    GET    /data/{universe}/{project}/value?database=&key=&app=    {database, key, size, text, base64}
    POST   /data/{universe}/{project}/value   {database, key, text | base64, app?}   → {seq}
    DELETE /data/{universe}/{project}/value?database=&key=&app=    {seq}
    GET    /data/{universe}/{project}/files?storage=&app=          {storage, files: [{name, version, cid, size}]}
    GET    /data/{universe}/{project}/file?storage=&name=&version=&app=   {name, version, cid, size, text, base64}
    POST   /data/{universe}/{project}/file    {storage, name, text | base64, overwrite?, app?}   → {version, cid}
    GET    /data/{universe}/{project}/file/bytes?storage=&name=&version=&app=   the file's bytes, streamed
           (headers x-dream-version, x-dream-cid)
    POST   /data/{universe}/{project}/file/bytes?storage=&name=&overwrite=&app=   raw body (the file,
           streamed) → {storage, name, version, cid, size}

The `/file/bytes` routes carry a file of any size up to the storage's limit in chunks: the daemon spools
it to a file under its home and sends it to hoarder a piece at a time, never holding it whole.

`project` is a project's name or id; `database` and `storage` are names as a function asks for them
(`/users`): they resolve as in a function of the project (or of application `app`, a name or id), to
the same keyspace. Writes go through hoarder like a function's: every substrate sees them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from dream.clients.auth import AuthClient
from dream.clients.base import ServiceError
from dream.clients.blobs import CHUNK, Spool
from dream.clients.hoarder import DatabaseRefused, HoarderDatabases
from dream.clients.tns import TnsClient
from dream.daemon.inputs import body, flag, text
from dream.daemon.routes.context import api, multiverse, universe_of
from dream.errors import DreamError
from dream.node.peers import PeerClient
from dream.substrate.resources import Opened, describe, resolve
from dream.tcc import tns_keys

FILE, SIZE, VERSION = "/file/", "/size/", "/version/"
SPOOL = "data-spool"  # the folder of the daemon's home where streamed files wait on their way


def clear_spool(home: Path) -> None:
    """Drop what a daemon that died in mid-transfer left in the spool: no request can finish it now."""
    shutil.rmtree(home / SPOOL, ignore_errors=True)


@dataclass
class ProjectData:
    id: str
    name: str
    app: str | None
    config: dict[str, Any]
    hoarder: HoarderDatabases


@contextlib.asynccontextmanager
async def _project(request: Request, app_ref: str | None) -> AsyncIterator[ProjectData]:
    universe = universe_of(request)
    wanted = request.path_params["project"]
    peers: PeerClient = universe.peer_client()
    try:
        try:
            known = await AuthClient(peers).projects()
        except ServiceError:  # a universe without auth (projects deployed by `buildLocalProject`)
            known = []
        found = [p for p in known if wanted in (p["name"], p["id"])]
        project_id = found[0]["id"] if found else wanted  # a project deployed without auth: its id
        tns = TnsClient(peers)
        config: Any = None
        for branch in multiverse(request).branches:
            commit = await tns.current_commit(project_id, branch)
            if commit:
                config = await tns.fetch(tns_keys.project_prefix(branch, commit, project_id))
                break
        if not isinstance(config, dict):
            names = ", ".join(sorted(p["name"] for p in known)) or "none registered"
            raise DreamError(
                f"project `{wanted}` has no published config in universe `{universe.name}` (projects: "
                f"{names}); push its config first (`dream inject push-all`)"
            )
        app = None
        if app_ref:
            apps = config.get("applications") or {}
            app = next((a for a, c in apps.items() if app_ref in (a, c.get("name"))), None)
            if app is None:
                listed = ", ".join(f"{c.get('name')} ({a})" for a, c in apps.items()) or "none"
                raise DreamError(
                    f"project `{wanted}` has no application `{app_ref}` (its applications: {listed})"
                )
        yield ProjectData(project_id, str(config.get("name") or wanted), app, config, HoarderDatabases(peers))
    finally:
        await peers.close()


def _open(project: ProjectData, kind: str, name: str) -> Opened:
    opened, candidates = resolve(project.config, project.id, project.app, kind, name)
    if opened is None:
        what = kind[:-1]
        raise DreamError(
            f"no {what} of project `{project.name}` matches `{name}` (its {kind}: {describe(candidates)}); "
            "use a name a function would open: a `match` itself, or a name its regex finds"
        )
    return opened


def _shown(value: bytes) -> dict[str, Any]:
    try:
        as_text: str | None = value.decode()
    except UnicodeDecodeError:
        as_text = None
    return {"size": len(value), "text": as_text, "base64": base64.b64encode(value).decode()}


def _payload(data: dict[str, Any]) -> bytes:
    if data.get("base64") is not None:
        try:
            return base64.b64decode(str(data["base64"]), validate=True)
        except binascii.Error:
            raise DreamError(
                "`base64` is not base64 text: send the bytes base64-encoded, or `text`"
            ) from None
    if data.get("text") is None:
        raise DreamError("send the value as `text` (UTF-8) or `base64`")
    return str(data["text"]).encode()


def _required(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise DreamError(f"query parameter `{name}` is missing, e.g. ?{name}=/users")
    return value


async def overview(request: Request) -> Any:
    async with _project(request, request.query_params.get("app")) as project:
        spaces = await project.hoarder.spaces(project.id)

        def listed(where: dict[str, Any], kind: str, app: str | None) -> list[dict[str, Any]]:
            return [
                {
                    "id": rid,
                    "name": c.get("name"),
                    "match": c.get("match"),
                    "regex": bool(c.get("regex")),
                    "size": c.get("size") or 0,
                    "application": app,
                    **({"versioning": bool(c.get("versioning"))} if kind == "storages" else {}),
                }
                for rid, c in (where.get(kind) or {}).items()
            ]

        out: dict[str, Any] = {"project": project.id, "name": project.name, "databases": [], "storages": []}
        for kind in ("databases", "storages"):
            out[kind] += listed(project.config, kind, None)
            for app_id, app in (project.config.get("applications") or {}).items():
                out[kind] += listed(app, kind, app_id)
        out["keyspaces"] = spaces
        return out


async def keys(request: Request) -> Any:
    async with _project(request, request.query_params.get("app")) as project:
        opened = _open(project, "databases", _required(request, "database"))
        found = await project.hoarder.keys(opened.space, request.query_params.get("prefix", ""))
        return {"database": opened.name, "keys": found}


async def get_value(request: Request) -> Any:
    async with _project(request, request.query_params.get("app")) as project:
        opened = _open(project, "databases", _required(request, "database"))
        key = _required(request, "key")
        value = await project.hoarder.get(opened.space, key)
        if value is None:
            raise DreamError(f"database `{opened.name}` of project `{project.name}` has no key `{key}`")
        return {"database": opened.name, "key": key, **_shown(value)}


@contextlib.contextmanager
def _refused() -> Iterator[None]:
    """Hoarder's refusal of a write (full, exists, unreachable) as the sentence the API answers."""
    try:
        yield
    except DatabaseRefused as exc:
        raise DreamError(exc.message) from None
    except ServiceError as exc:
        raise DreamError(str(exc)) from None


async def put_value(request: Request) -> Any:
    data = await body(request)
    async with _project(request, text(data, "app")) as project:
        opened = _open(
            project, "databases", text(data, "database", required="send `database`, e.g. /users") or ""
        )
        key = text(data, "key", required="send the `key` to put") or ""
        with _refused():
            written = await project.hoarder.put(opened.space, key, _payload(data), **opened.put_options())
        return {"database": opened.name, "key": key, "seq": written["seq"]}


async def delete_value(request: Request) -> Any:
    async with _project(request, request.query_params.get("app")) as project:
        opened = _open(project, "databases", _required(request, "database"))
        key = _required(request, "key")
        written = await project.hoarder.delete(opened.space, key)
        return {"database": opened.name, "key": key, "seq": written["seq"]}


async def files(request: Request) -> Any:
    async with _project(request, request.query_params.get("app")) as project:
        opened = _open(project, "storages", _required(request, "storage"))
        listed = []
        for key in await project.hoarder.keys(opened.space, FILE):
            name, _, version = key[len(FILE) :].rpartition("/")
            cid = await project.hoarder.get(opened.space, key)
            size = await project.hoarder.get(opened.space, f"{SIZE}{name}/{version}")
            listed.append(
                {"name": name, "version": int(version), "cid": (cid or b"").decode(), "size": int(size or 0)}
            )
        return {"storage": opened.name, "files": listed}


async def _located(request: Request, project: ProjectData) -> tuple[str, int, str]:
    """The storage, version and CID of the file the query names (its latest version unless `version`)."""
    opened = _open(project, "storages", _required(request, "storage"))
    name = _required(request, "name")
    version = request.query_params.get("version") or "0"
    if not version.isdigit():
        raise DreamError(f"`version` must be a version number (0: the latest), got `{version}`")
    if version == "0":
        latest = await project.hoarder.get(opened.space, f"{VERSION}{name}")
        version = (latest or b"").decode()
    cid = await project.hoarder.get(opened.space, f"{FILE}{name}/{version}") if version else None
    if cid is None:
        raise DreamError(
            f"storage `{opened.name}` of project `{project.name}` has no file `{name}` at that version"
        )
    return opened.name, int(version), cid.decode()


async def get_file(request: Request) -> Any:
    async with _project(request, request.query_params.get("app")) as project:
        storage, version, cid = await _located(request, project)
        name = request.query_params["name"]
        data = await project.hoarder.blob(cid)
        if data is None:
            raise DreamError(f"hoarder does not have the bytes of `{name}` ({cid})")
        return {"storage": storage, "name": name, "version": version, "cid": cid, **_shown(data)}


async def get_file_bytes(request: Request) -> Any:
    async with _project(request, request.query_params.get("app")) as project:
        storage, version, cid = await _located(request, project)
        name = request.query_params["name"]
        spool = Spool(multiverse(request).home / SPOOL)
        try:
            found = await project.hoarder.fetch_blob(cid, spool)
        except BaseException:
            spool.close()
            raise
        if not found:
            spool.close()
            raise DreamError(f"hoarder does not have the bytes of `{name}` ({cid})")
        path = spool.finish()
        kept = open(path, "rb")  # noqa: SIM115 (closed once sent)
        path.unlink()  # gone from the folder now: nothing is left behind, even by a client that hangs up

        def chunks() -> Iterator[bytes]:  # read in starlette's thread pool, a chunk at a time
            with kept:
                while chunk := kept.read(CHUNK):
                    yield chunk

        headers = {
            "x-dream-storage": storage,
            "x-dream-version": str(version),
            "x-dream-cid": cid,
            "content-length": str(spool.size),
        }
        return StreamingResponse(chunks(), media_type="application/octet-stream", headers=headers)


async def _add_file(
    project: ProjectData, opened: Opened, name: str, data: bytes | Path, overwrite: bool
) -> dict[str, Any]:
    with _refused():
        added = await project.hoarder.add_file(
            opened.space, name, data, overwrite=overwrite, **opened.add_options()
        )
    return {
        "storage": opened.name,
        "name": name,
        "version": added["version"],
        "cid": added["cid"],
        "size": added["size"],
    }


async def put_file(request: Request) -> Any:
    data = await body(request)
    async with _project(request, text(data, "app")) as project:
        opened = _open(
            project, "storages", text(data, "storage", required="send `storage`, e.g. /uploads") or ""
        )
        name = text(data, "name", required="send the file's `name`") or ""
        return await _add_file(project, opened, name, _payload(data), flag(data, "overwrite"))


async def put_file_bytes(request: Request) -> Any:
    overwrite = request.query_params.get("overwrite", "0")
    if overwrite not in ("0", "1", "true", "false"):
        raise DreamError(f"`overwrite` must be 1 or 0, got `{overwrite}`")
    async with _project(request, request.query_params.get("app")) as project:
        opened = _open(project, "storages", _required(request, "storage"))
        name = _required(request, "name")
        spool = Spool(multiverse(request).home / SPOOL)
        try:
            async for chunk in request.stream():  # chunk by chunk to disk: never whole in memory
                spool.write(chunk)
            path = spool.finish()
            return await _add_file(project, opened, name, path, overwrite in ("1", "true"))
        finally:
            spool.close()


def routes() -> list[Route]:
    return [
        Route("/data/{universe}/{project}", api(overview)),
        Route("/data/{universe}/{project}/keys", api(keys)),
        Route("/data/{universe}/{project}/value", api(get_value)),
        Route("/data/{universe}/{project}/value", api(put_value), methods=["POST"]),
        Route("/data/{universe}/{project}/value", api(delete_value), methods=["DELETE"]),
        Route("/data/{universe}/{project}/files", api(files)),
        Route("/data/{universe}/{project}/file", api(get_file)),
        Route("/data/{universe}/{project}/file", api(put_file), methods=["POST"]),
        Route("/data/{universe}/{project}/file/bytes", api(get_file_bytes)),
        Route("/data/{universe}/{project}/file/bytes", api(put_file_bytes), methods=["POST"]),
    ]
