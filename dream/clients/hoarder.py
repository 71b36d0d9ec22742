"""The hoarder client: content-addressed blobs, each kept on at least two hoarders.

Routes: POST /hoarder/stash (raw body, optional `x-cid`), POST /hoarder/replica (to one given hoarder),
GET /hoarder/blob/{cid}, GET /hoarder/has/{cid}, GET /hoarder/list.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path
from typing import Any, TypedDict

import httpx

from dream.clients.base import ServiceClient, ServiceError
from dream.clients.blobs import CHUNK, Spool
from dream.node.peers import PeerClient, PeerInfo

STASH = "/hoarder/stash"
REPLICA = "/hoarder/replica"
BLOB = "/hoarder/blob/{cid}"
HAS = "/hoarder/has/{cid}"
LIST = "/hoarder/list"
REPLICA_TIMEOUT = 30.0
LEADER_TIMEOUT = 1.0  # seconds to ask a hoarder who leads


UPLOAD = "/hoarder/upload"
UPLOAD_PIECE = 1 << 20  # bytes of a file sent per request (a node's HTTP server reads bodies whole)


async def sent(peers: PeerClient, peer: PeerInfo, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The request's arguments once its `content` is ready for `peer`: a file (a Path) of at most
    UPLOAD_PIECE bytes is sent whole; a larger one is uploaded first, a piece per request, and the
    request names the upload (`?upload=<id>`) instead of carrying it."""
    content = kwargs.get("content")
    if not isinstance(content, Path):
        return kwargs
    if content.stat().st_size <= UPLOAD_PIECE:
        return {**kwargs, "content": content.read_bytes()}
    upload = secrets.token_hex(16)
    offset = 0
    with open(content, "rb") as fh:
        while piece := fh.read(UPLOAD_PIECE):
            params = {"id": upload, "offset": offset}
            response = await peers.request(
                peer, "POST", UPLOAD, params=params, content=piece, timeout=REPLICA_TIMEOUT
            )
            if response.status_code != 200:
                said = response.json().get("error", "refused") if response.content else "refused"
                raise ServiceError("hoarder", "POST", UPLOAD, response.status_code, str(said))
            offset += len(piece)
    rest = {k: v for k, v in kwargs.items() if k != "content"}
    return {**rest, "params": {**(kwargs.get("params") or {}), "upload": upload}}


class Stashed(TypedDict):
    """A stashed blob: its CID, size and the hoarders (peer ids) that keep it."""

    cid: str
    size: int
    replicas: list[str]


class HoarderClient(ServiceClient):
    service = "hoarder"

    async def stash(self, data: bytes, *, cid: str | None = None) -> Stashed:
        """Keep `data` (checked against `cid` when given, else its CID is computed) on two hoarders."""
        headers = {"x-cid": cid} if cid else None
        answer: Stashed = await self._json("POST", STASH, content=data, headers=headers)
        return answer

    async def replica(self, peer: PeerInfo, cid: str, data: bytes | Path) -> bool:
        """Have the hoarder `peer` keep a copy (of `data`, or of the file at `data`, sent in chunks);
        whether it took it (one hoarder's call to another)."""
        try:
            kwargs = await sent(self.peers, peer, {"content": data, "headers": {"x-cid": cid}})
            response = await self.peers.request(peer, "POST", REPLICA, timeout=REPLICA_TIMEOUT, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceError(self.service, "POST", REPLICA, None, f"{peer.id}: {exc}") from None
        return response.status_code == 200

    async def blob(self, cid: str) -> bytes | None:
        """The blob's bytes, None when the hoarder asked does not have it."""
        path = BLOB.format(cid=cid)
        response = await self._call("GET", path)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            self._decode("GET", path, response)  # raises with the hoarder's sentence
        return response.content

    async def has(self, cid: str, *, at: PeerInfo | None = None) -> bool:
        """Whether the hoarder asked (any one, or the hoarder `at`) keeps the blob."""
        path = HAS.format(cid=cid)
        if at is None:
            return bool((await self._json("GET", path))["has"])
        try:
            return bool((await self._json_at(at, "GET", path))["has"])
        except httpx.HTTPError as exc:
            raise ServiceError(self.service, "GET", path, None, f"{at.id}: {exc}") from None

    async def cids(self) -> list[str]:
        """The CIDs the hoarder asked keeps."""
        return list((await self._json("GET", LIST))["cids"])


# -- databases (the key/value keyspaces functions use) ------------------------------------------------

DB_PUT = "/hoarder/db/put"
DB_DELETE = "/hoarder/db/delete"
DB_GET = "/hoarder/db/get"
DB_KEYS = "/hoarder/db/keys"
DB_SNAPSHOT = "/hoarder/db/snapshot"
DB_CHANGES = "/hoarder/db/changes"
DB_SPACES = "/hoarder/db/spaces"
DB_LEADER = "/hoarder/db/leader"
STORAGE_ADD = "/hoarder/storage/add"
STORAGE_DELETE = "/hoarder/storage/delete"
DB_TIMEOUT = 10.0  # seconds a database read or write may take
# Seconds without a byte moving before a storage file's upload or download is given up.
STREAM_TIMEOUT = httpx.Timeout(DB_TIMEOUT, read=DB_TIMEOUT, write=DB_TIMEOUT)
# Seconds a call keeps looking for the hoarder that orders writes (a takeover takes about 2).
FAILOVER_WAIT = 8.0
RETRY = 0.2  # seconds between those looks
NOT_LEADER = 409  # a hoarder that does not order writes (or stepped down) answers this


def space_id(project: str, app: str | None, name: str, kind: str = "db") -> str:
    """The keyspace of database (or, with kind `storage`, storage) name `name` asked for by a function of
    `project` (and `app`): upstream keys them by project + application + the name the function asked for."""
    return f"{project}/{app or '-'}/{kind}:{name}"


GLOBALS = "globals"  # the name `dream data` shows for a project's globals keyspace


def globals_space(project: str) -> str:
    """The keyspace of a project's `globals` values (every scope of them: one per project, as upstream)."""
    return f"{project}/{GLOBALS}"


class DatabaseWrite(TypedDict):
    """A committed write: its sequence number in hoarder's change log."""

    seq: int


class DatabaseSnapshot(TypedDict):
    """A keyspace read at one moment: the log's sequence number then, and [key, base64 value, seq]s."""

    seq: int
    entries: list[list[Any]]


class DatabaseChanges(TypedDict):
    """Changes after some sequence number: [seq, space, key, base64 value or null (deleted)]s.

    `first` is the oldest change still logged: a reader that asked for changes after `first - 2` or
    earlier missed some and must reload what it holds. `term` is the answering hoarder's leadership
    term (a new one: another hoarder took over); `synced`, for a standby, whether it holds every
    acknowledged write."""

    seq: int
    first: int
    changes: list[list[Any]]
    term: int
    synced: bool


class LeaderView(TypedDict):
    """A hoarder's view of who orders the database writes: its term, the leader's id ("" when unknown),
    whether it is the leader itself, and its own id."""

    term: int
    leader: str
    leading: bool
    me: str


class DatabaseSpace(TypedDict):
    """One keyspace: whose it is, the bytes it uses of its limit (0: none) and its number of keys."""

    space: str
    project: str
    app: str
    name: str
    used: int
    limit: int
    keys: int


class FileAdded(TypedDict):
    """A storage file recorded: its version, the change's sequence number, its bytes' CID and size."""

    version: int
    seq: int
    cid: str
    size: int


class DatabaseRefused(ServiceError):
    """Hoarder refused a database write (the keyspace is full, or the input is bad): nothing changed."""


class HoarderDatabases(ServiceClient):
    """The database routes of the hoarder that orders writes (the leader: the first hoarder, or the one
    that took over, `dream.hoarder.leadership`), so that every substrate reads and writes the same copy.
    A call meeting no leader (it is down, or stepped down) looks again for up to FAILOVER_WAIT seconds."""

    service = "hoarder"

    def __init__(self, peers: PeerClient) -> None:
        super().__init__(peers)
        self._leader: PeerInfo | None = None

    async def leader(self, peer: PeerInfo, *, timeout: float) -> LeaderView | None:
        """The hoarder `peer`'s view of who leads; None when it does not answer."""
        try:
            response = await self.peers.request(peer, "GET", DB_LEADER, timeout=timeout)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        view: LeaderView = response.json()
        return view

    async def _home(self) -> PeerInfo:
        if self._leader is not None:
            return self._leader
        found = await self.peers.discover(self.service)
        if not found:
            found = await self.peers.discover(self.service, fresh=True)
        if not found:
            raise ServiceError(self.service, "GET", DB_GET, None, "no hoarder node is running")
        leader = min(found, key=lambda p: (p.index, p.id))
        if len(found) > 1:  # ask them: the highest term's leader orders writes
            views = await asyncio.gather(*(self.leader(p, timeout=LEADER_TIMEOUT) for p in found))
            known = [v for v in views if v is not None and v["leader"]]
            if known:
                newest = max(known, key=lambda v: v["term"])
                leader = next((p for p in found if p.id == newest["leader"]), leader)
        self._leader = leader
        return leader

    async def _at_home(self, method: str, path: str, *, at: PeerInfo | None = None, **kwargs: Any) -> Any:
        if at is not None:
            return await self._once(at, method, path, **kwargs)
        deadline = time.monotonic() + FAILOVER_WAIT
        while True:
            try:
                peer = await self._home()
                response = await self._once(peer, method, path, **kwargs)
                if response.status_code != NOT_LEADER:
                    return response
                problem = ServiceError(
                    self.service, method, path, NOT_LEADER, str(response.json().get("error"))
                )
            except ServiceError as exc:
                if isinstance(exc, DatabaseRefused):
                    raise
                problem = exc
            self._leader = None  # look again: another hoarder may lead now
            if time.monotonic() + RETRY > deadline:
                raise problem
            await asyncio.sleep(RETRY)
            await self.peers.discover(self.service, fresh=True)

    async def _once(self, peer: PeerInfo, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            kwargs = await sent(self.peers, peer, kwargs)  # a file is sent afresh to each hoarder tried
            response = await self.peers.request(peer, method, path, **kwargs)
        except httpx.HTTPError as exc:
            # Its address may have changed (a restart): look again before the caller retries.
            self._leader = None
            await self.peers.discover(self.service, fresh=True)
            raise ServiceError(self.service, method, path, None, f"{peer.id}: {exc}") from None
        if response.status_code == 400:
            said = response.json().get("error", "refused")
            raise DatabaseRefused(self.service, method, path, 400, str(said))
        return response

    async def put(
        self, space: str, key: str, value: bytes, *, project: str, app: str, name: str, limit: int
    ) -> DatabaseWrite:
        """Store `value` at `key` of `space` (committed when this returns); DatabaseRefused past `limit`."""
        params = {"space": space, "key": key, "project": project, "app": app, "name": name, "limit": limit}
        response = await self._at_home("POST", DB_PUT, params=params, content=value, timeout=DB_TIMEOUT)
        answer: DatabaseWrite = self._decode("POST", DB_PUT, response)
        return answer

    async def delete(self, space: str, key: str) -> DatabaseWrite:
        response = await self._at_home(
            "POST", DB_DELETE, params={"space": space, "key": key}, timeout=DB_TIMEOUT
        )
        answer: DatabaseWrite = self._decode("POST", DB_DELETE, response)
        return answer

    async def get(self, space: str, key: str) -> bytes | None:
        """The value at `key`, None when there is none."""
        response = await self._at_home("GET", DB_GET, params={"space": space, "key": key}, timeout=DB_TIMEOUT)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            self._decode("GET", DB_GET, response)
        return bytes(response.content)

    async def keys(self, space: str, prefix: str = "") -> list[str]:
        response = await self._at_home(
            "GET", DB_KEYS, params={"space": space, "prefix": prefix}, timeout=DB_TIMEOUT
        )
        return list(self._decode("GET", DB_KEYS, response)["keys"])

    async def home(self) -> PeerInfo:
        """The hoarder that orders the database writes; the others keep copies."""
        return await self._home()

    async def snapshot(self, space: str, *, at: PeerInfo | None = None) -> DatabaseSnapshot:
        response = await self._at_home("GET", DB_SNAPSHOT, at=at, params={"space": space}, timeout=DB_TIMEOUT)
        answer: DatabaseSnapshot = self._decode("GET", DB_SNAPSHOT, response)
        return answer

    async def changes(
        self,
        after: int,
        *,
        wait: float,
        timeout: float,
        at: PeerInfo | None = None,
        standby: str = "",
        term: int = 0,
    ) -> DatabaseChanges:
        """Changes after `after`, waiting up to `wait` seconds for one (a long-poll). A `standby` hoarder
        (its id, at `term`) reads every committed change and shows the leader what it has applied."""
        params: dict[str, Any] = {"after": after, "wait": wait}
        if standby:
            params |= {"standby": standby, "term": term}
        response = await self._at_home("GET", DB_CHANGES, at=at, params=params, timeout=timeout)
        answer: DatabaseChanges = self._decode("GET", DB_CHANGES, response)
        return answer

    async def spaces(self, project: str = "", *, at: PeerInfo | None = None) -> list[DatabaseSpace]:
        response = await self._at_home(
            "GET", DB_SPACES, at=at, params={"project": project}, timeout=DB_TIMEOUT
        )
        return list(self._decode("GET", DB_SPACES, response)["spaces"])

    async def add_file(
        self,
        space: str,
        name: str,
        data: bytes | Path,
        *,
        overwrite: bool,
        versioning: bool,
        capacity: int,
        ttl: float = 0.0,
        project: str,
        app: str,
        storage: str,
    ) -> FileAdded:
        """Keep `data` (or the file at `data`, sent in pieces) as a version of storage file `name`
        (removed `ttl` seconds after, when not 0: a streaming storage's); DatabaseRefused when full or
        it exists."""
        params = {
            "space": space,
            "name": name,
            "overwrite": int(overwrite),
            "versioning": int(versioning),
            "ttl": ttl,
            "capacity": capacity,
            "project": project,
            "app": app,
            "storage": storage,
        }
        response = await self._at_home(
            "POST", STORAGE_ADD, params=params, content=data, timeout=STREAM_TIMEOUT
        )
        answer: FileAdded = self._decode("POST", STORAGE_ADD, response)
        return answer

    async def delete_file(self, space: str, name: str, version: int, *, storage: str) -> DatabaseWrite:
        """Forget a version of a storage file (0: the latest, -1: all); DatabaseRefused when it is not there."""
        params = {"space": space, "name": name, "version": version, "storage": storage}
        response = await self._at_home("POST", STORAGE_DELETE, params=params, timeout=DB_TIMEOUT)
        answer: DatabaseWrite = self._decode("POST", STORAGE_DELETE, response)
        return answer

    async def blob(self, cid: str) -> bytes | None:
        """A storage file's bytes (kept by CID on the database hoarder); None when it has none."""
        path = BLOB.format(cid=cid)
        response = await self._at_home("GET", path, timeout=DB_TIMEOUT)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            self._decode("GET", path, response)
        return bytes(response.content)

    async def fetch_blob(self, cid: str, into: Spool) -> bool:
        """Write the bytes of `cid` into `into` as they arrive (never whole in memory); False when the
        database hoarder does not have them."""
        path = BLOB.format(cid=cid)
        peer = await self._home()
        try:
            async with self.peers.http.stream("GET", peer.p2p_url + path, timeout=STREAM_TIMEOUT) as response:
                if response.status_code == 404:
                    return False
                if response.status_code != 200:
                    await response.aread()
                    self._decode("GET", path, response)
                async for chunk in response.aiter_bytes(CHUNK):
                    into.write(chunk)
        except httpx.HTTPError as exc:
            self._leader = None
            raise ServiceError(self.service, "GET", path, None, f"{peer.id}: {exc}") from None
        return True

    async def stash(self, data: bytes | Path) -> str:
        """Keep `data` (or the file at `data`, sent in pieces when large) as a blob on the database
        hoarder (which copies it to another): its CID."""
        response = await self._at_home("POST", STASH, content=data, timeout=DB_TIMEOUT)
        answer: Stashed = self._decode("POST", STASH, response)
        return answer["cid"]
