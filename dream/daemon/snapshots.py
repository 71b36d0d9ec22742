"""Snapshots of a universe's whole state in one file, and universes started from them (forks).

Saving pauses every process of the universe (its nodes and their children, such as a `git http-backend`
serving a push) with SIGSTOP, copies the universe's folder (each node's SQLite store through SQLite's
backup API, the git host's repositories, hoarder's blobs, the substrates' assets), then resumes them: a
point in time no write straddles. Loading unpacks it as a kept universe of another name (a new universe
id and key; stored URLs follow the new ports as a kept universe's do), makes sure the machine's compiled
module cache holds every build, and starts it: the projects answer with no build.

File: `$DREAM_HOME/snapshots/<name>.tar.gz` holding `snapshot.json` and `universe/` (node logs left out).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import secrets
import shutil
import signal
import sqlite3
import tarfile
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dream.daemon.chaos import wait_stopped
from dream.daemon.ids import universe_id
from dream.daemon.universe import Universe
from dream.errors import DreamError

if TYPE_CHECKING:
    from dream.shapes import Shape

SNAPSHOT_DIR = "snapshots"
SUFFIX = ".tar.gz"
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
SQLITE_SUFFIX = ".db"
SKIPPED = ("node.log",)  # and SQLite's -wal/-shm: the backup API writes a whole database
BACKUP_TIMEOUT = 10.0  # seconds SQLite may wait for a lock while backing a store up
GZIP_LEVEL = 1  # fast: most of a snapshot is already-compressed wasm and git objects


def snapshot_dir(home: Path) -> Path:
    return home / SNAPSHOT_DIR


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise DreamError(
            f"`{name}` is not a valid snapshot name: lower-case letters, digits, - and _ (up to 64), "
            "starting with a letter or digit"
        )
    return name


def path_of(home: Path, name: str) -> Path:
    return snapshot_dir(home) / f"{check_name(name)}{SUFFIX}"


def _children(pid: int) -> list[int]:
    """Every descendant of `pid` (from /proc), children before grandchildren."""
    found: list[int] = []
    queue = [pid]
    while queue:
        current = queue.pop(0)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                kids = [int(k) for k in (task / "children").read_text().split()]
                found += kids
                queue += kids
    return found


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@contextlib.contextmanager
def paused(universe: Universe) -> Any:
    """Every process of the universe stopped inside the block, and resumed after it whatever happens."""
    nodes = [r.pid for r in universe.nodes.values() if r.alive and r.pid]
    pids = [pid for pid in nodes if pid] + [kid for pid in nodes if pid for kid in _children(pid)]
    _signal_all(pids, signal.SIGSTOP)
    try:
        wait_stopped(pids)
        yield pids
    finally:
        _signal_all(pids, signal.SIGCONT)


def _backup_sqlite(source: Path, target: Path) -> None:
    """A whole, consistent copy of one store, even mid-transaction of its (stopped) writer."""
    src = sqlite3.connect(source, timeout=BACKUP_TIMEOUT)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _copy_tree(root: Path, into: Path) -> None:
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        target = into / rel
        if path.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(os.readlink(path))
        elif path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif not path.is_file():
            # A node's Unix socket (a substrate's `http.sock`) is made again by the node that serves it.
            continue
        elif path.name in SKIPPED or path.name.endswith((f"{SQLITE_SUFFIX}-wal", f"{SQLITE_SUFFIX}-shm")):
            continue
        elif path.suffix == SQLITE_SUFFIX:
            target.parent.mkdir(parents=True, exist_ok=True)
            _backup_sqlite(path, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):  # a temporary file gone between listing and copy
                shutil.copy2(path, target)


def save(universe: Universe, home: Path, name: str) -> dict[str, Any]:
    """Snapshot the running `universe` as `name` (replacing a snapshot of that name)."""
    target = path_of(home, name)
    if universe.state != "running":
        raise DreamError(
            f"universe `{universe.name}` is {universe.state}: only a running universe is snapshotted"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".saving-") as tmp:
        copy = Path(tmp) / "universe"
        with paused(universe) as pids:
            stopped_at = time.monotonic()
            _copy_tree(universe.root, copy)
            paused_for = time.monotonic() - stopped_at
        # The universe's key signs its node-to-node calls: it stays with the universe (a load makes a new one).
        meta_path = copy / "universe.json"
        stored = json.loads(meta_path.read_text())
        stored.pop("key", None)
        meta_path.write_text(json.dumps(stored, indent=2))
        meta = {
            "name": name,
            "universe": universe.name,
            "created": time.time(),
            "processes_paused": len(pids),
            "paused_seconds": round(paused_for, 4),
        }
        part = target.with_suffix(".part")
        with tarfile.open(part, "w:gz", compresslevel=GZIP_LEVEL) as tar:
            data = json.dumps(meta, indent=2).encode()
            info = tarfile.TarInfo("snapshot.json")
            info.size, info.mtime = len(data), int(time.time())
            tar.addfile(info, io.BytesIO(data))
            tar.add(copy, arcname="universe")
        part.replace(target)
    return {
        **meta,
        "path": str(target),
        "bytes": target.stat().st_size,
        "seconds": round(time.monotonic() - started, 4),
    }


def read_meta(path: Path) -> dict[str, Any]:
    with tarfile.open(path, "r:gz") as tar:
        member = tar.extractfile("snapshot.json")
        if member is None:
            raise DreamError(f"{path} holds no snapshot.json: it is not a dream snapshot")
        return dict(json.loads(member.read()))


def listing(home: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(snapshot_dir(home).glob(f"*{SUFFIX}")):
        try:
            meta = read_meta(path)
        except (OSError, tarfile.TarError, ValueError, KeyError, DreamError) as exc:
            meta = {"name": path.name.removesuffix(SUFFIX), "error": f"unreadable: {exc}"}
        found.append({**meta, "bytes": path.stat().st_size, "path": str(path)})
    return found


def remove(home: Path, name: str) -> dict[str, Any]:
    path = path_of(home, name)
    if not path.is_file():
        raise DreamError(f"no snapshot `{name}` (see `dream snapshot list`)")
    path.unlink()
    return {"removed": name}


def unpack(home: Path, name: str, as_name: str) -> dict[str, Any]:
    """Unpack snapshot `name` as the kept universe `as_name` (not started)."""
    path = path_of(home, name)
    if not path.is_file():
        raise DreamError(f"no snapshot `{name}` (see `dream snapshot list`)")
    root = home / f"universe-{as_name}"
    if root.exists():
        raise DreamError(
            f"a kept universe `{as_name}` already exists: choose another name or `dream kill universe`"
        )
    with tempfile.TemporaryDirectory(dir=home, prefix=".loading-") as tmp:
        with tarfile.open(path, "r:gz") as tar:
            tar.extractall(tmp, filter="data")
        unpacked = Path(tmp) / "universe"
        meta_path = unpacked / "universe.json"
        meta = json.loads(meta_path.read_text())
        # A universe of its own: its own name, id and key (nothing stored depends on them; the nodes'
        # peer ids follow the id), kept on disk like any `--keep` universe, ports taken again when free.
        meta.update(
            name=as_name, id=universe_id(as_name, deterministic=False), key=secrets.token_hex(32), keep=True
        )
        meta_path.write_text(json.dumps(meta, indent=2))
        os.chmod(meta_path, 0o600)
        unpacked.replace(root)
    return read_meta(path)


def compiled_builds(root: Path) -> int:
    """Make sure this machine's compiled-module cache has every wasm build in the universe's hoarder
    (a snapshot made here has them already; one from elsewhere gets them compiled once, now); returns
    how many were compiled."""
    from dream.wasm.cache import default_directory
    from dream.wasm.host import WasmHost
    from dream.wasm.precompile import precompile

    compiled = default_directory() / "cid"
    count = 0
    for blobs in root.glob("hoarder-*/blobs"):
        for blob in blobs.iterdir():
            # Named after its CID in the cache already (made here): nothing to do, and no engine to start.
            if not blob.is_file() or any(compiled.glob(f"{blob.name}-*.cwasm")):
                continue
            data = blob.read_bytes()
            if WasmHost.looks_loadable(data):
                precompile(data, f"snapshot build {blob.name}", blob.name)
                count += 1
    return count


def only_shape(root: Path, only: list[str], name: str) -> Shape:
    """The snapshot's shape cut down to the services and simples named in `only` (a test that needs a
    function served starts substrate, tns and hoarder, not all eleven nodes)."""
    from dream.shapes import Shape

    stored = Shape.from_api(json.loads((root / "universe.json").read_text()).get("shape") or {})
    known = [*stored.services, *stored.simples]
    unknown = [n for n in only if n not in known]
    if unknown:
        raise DreamError(
            f"snapshot `{name}` has no {', '.join(unknown)}: `only` names some of {', '.join(sorted(known))}"
        )
    return Shape(
        services={n: c for n, c in stored.services.items() if n in only},
        simples={n: c for n, c in stored.simples.items() if n in only},
    )


async def load(
    multiverse: Any,
    home: Path,
    name: str,
    as_name: str,
    *,
    keep: bool = False,
    only: list[str] | None = None,
) -> dict[str, Any]:
    """Start the universe `as_name` from snapshot `name`; unless `keep`, its folder goes when it is killed
    (like any universe made without `--keep`). `only`: start just these services and simples."""
    as_name = as_name.lower()
    if as_name in multiverse.universes:
        raise DreamError(f"universe `{as_name}` already exists")
    started = time.monotonic()
    meta = await asyncio.to_thread(unpack, home, name, as_name)
    unpacked = time.monotonic()
    try:
        shape = only_shape(home / f"universe-{as_name}", only, name) if only else None
        builds = await asyncio.to_thread(compiled_builds, home / f"universe-{as_name}")
        compiled = time.monotonic()
        universe = await multiverse.create(as_name, shape, keep=True)
    except BaseException:
        shutil.rmtree(home / f"universe-{as_name}", ignore_errors=True)
        raise
    if not keep:
        universe.keep = False  # removed with its folder when killed
        universe.discard_fast = True  # and its state thrown away: no long grace for its nodes
    return {
        "universe": universe.name,
        "id": universe.id,
        "from": meta.get("universe"),
        "snapshot": name,
        "nodes": len(universe.nodes),
        "compiled": builds,
        "seconds": round(time.monotonic() - started, 4),
        # Where the time went: unpacking, compiling builds this machine lacked, starting the nodes.
        "phases": {
            "unpack": round(unpacked - started, 4),
            "compile": round(compiled - unpacked, 4),
            "start": round(time.monotonic() - compiled, 4),
            "ports": round(universe.followed_ports_in, 4),  # of start: URLs stored with moved ports
        },
    }
