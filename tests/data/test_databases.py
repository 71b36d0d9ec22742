"""Databases in functions: a WAT and a Go function (go-sdk `database`) getting, putting, listing and
deleting keys through two substrates, hoarder keeping the data; bad input gives upstream's errno."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from dream.testing.harness import DaemonProcess, UniverseHandle, wait_for
from tests.data.conftest import HOST, KV, SHAPE, kv, shopkv, substrates

pytestmark = pytest.mark.e2e


def test_wat_function_puts_gets_lists_and_deletes(data: UniverseHandle) -> None:
    url = substrates(data)[0]
    assert kv(url, "put", "a/1", b"one").text == "put:0"
    assert kv(url, "put", "a/2", b"two").text == "put:0"
    assert kv(url, "put", "b/1", b"\x00binary\xff").text == "put:0"
    assert kv(url, "get", "a/1").content == b"one"
    assert kv(url, "get", "b/1").content == b"\x00binary\xff"
    assert kv(url, "list", "a/").content == b"a/1\0a/2\0"
    assert kv(url, "put", "a/1", b"ONE").text == "put:0"  # overwrite
    assert kv(url, "get", "a/1").content == b"ONE"
    assert kv(url, "del", "a/1").text == "del:0"
    assert kv(url, "get", "a/1").text == "get:29"  # ErrorDatabaseKeyNotFound
    assert kv(url, "del", "a/1").text == "del:0"  # deleting a missing key is no error, as upstream
    assert kv(url, "list", "a/").content == b"a/2\0"
    assert kv(url, "list", "zzz").content == b""
    assert kv(url, "close").text == "close:0:25"  # closed, then an id never handed out


def test_a_put_through_one_substrate_is_read_through_the_other(data: UniverseHandle) -> None:
    one, other = substrates(data)
    assert kv(other, "get", "shared").text == "get:29"  # the other substrate has the keyspace loaded
    assert kv(one, "put", "shared", b"v1").text == "put:0"
    wait_for(lambda: kv(other, "get", "shared").content == b"v1", "the put to reach the other substrate")
    assert kv(other, "put", "shared", b"v2").text == "put:0"
    wait_for(lambda: kv(one, "get", "shared").content == b"v2", "the second put to come back")
    assert kv(other, "del", "shared").text == "del:0"
    wait_for(lambda: kv(one, "get", "shared").text == "get:29", "the delete to reach the first")


def test_regex_database_gives_each_matched_name_its_own_keyspace(data: UniverseHandle) -> None:
    url = substrates(data)[0]
    assert kv(url, "put", "k", b"from a", db="/logs/a").text == "put:0"
    assert kv(url, "put", "k", b"from b", db="/logs/b").text == "put:0"
    assert kv(url, "get", "k", db="/logs/a").content == b"from a"
    assert kv(url, "get", "k", db="/logs/b").content == b"from b"
    assert kv(url, "get", "k").text == "get:29"  # /users is another keyspace again


def test_bad_input_gets_the_upstream_errno_and_serving_goes_on(data: UniverseHandle) -> None:
    url = substrates(data)[0]
    assert kv(url, "get", "x", db="/nothing").text == "new:22"  # no database matches: CreateFailed
    assert kv(url, "get", "x", db="/logs/UPPER").text == "new:22"  # the regex does not match
    assert kv(url, "put", "keep", b"kept").text == "put:0"
    # /users holds 4KB (storage.size: 4KB = 4000 bytes of keys and values)
    assert kv(url, "put", "big", b"x" * 4001).text == "put:24"  # ErrorDatabasePutFailed
    assert kv(url, "get", "big").text == "get:29"  # nothing of it was stored
    assert kv(url, "get", "keep").content == b"kept"  # nothing stored was lost
    used = sum(len(k) + len(v) for k, v in [("keep", b"kept")])
    assert used < 4000
    logs = (Path(data.client.status()[data.name]["root"])).rglob("node.log")
    text = "".join(p.read_text(errors="replace") for p in logs)
    assert "asked for database `/nothing`: no database matches it" in text
    assert "`/users` (users)" in text and "`^/logs/[a-z]+$` (logs, regex)" in text
    assert "is full: this put needs" in text
    assert (
        httpx.get(f"{url}/gokv", params={"db": "/users", "op": "get", "k": "keep"}, headers=HOST).text
        == "kept"
    )


def test_a_value_up_to_the_limit_is_stored_whole(data: UniverseHandle) -> None:
    url = substrates(data)[0]
    for key in [k for k in kv(url, "list", "").content.split(b"\0") if k]:
        assert kv(url, "del", key.decode()).text == "del:0"
    value = os.urandom(4000 - len("full"))  # keys and values count: exactly the limit
    assert kv(url, "put", "full", value).text == "put:0"
    assert kv(url, "get", "full").content == value
    assert kv(url, "put", "one-more", b"").text == "put:24"
    assert kv(url, "del", "full").text == "del:0"


def test_go_function_with_the_go_sdk_database_package(data: UniverseHandle) -> None:
    one, other = substrates(data)

    def go(url: str, **params: str) -> httpx.Response:
        return httpx.get(f"{url}/gokv", params={"db": "/logs/go", **params}, headers=HOST, timeout=60)

    assert go(one, op="put", k="user/alice", v="a").text == "put: ok"
    assert go(one, op="put", k="user/bob", v="b").text == "put: ok"
    assert go(one, op="put", k="other", v="o").text == "put: ok"
    assert go(one, op="get", k="user/alice").text == "a"
    assert go(one, op="list", k="user/").text == "user/alice,user/bob"
    assert go(one, op="del", k="user/alice").text == "del: ok"
    missing = go(one, op="get", k="user/alice")
    assert (missing.status_code, missing.text) == (404, "missing")
    wait_for(
        lambda: go(other, op="list", k="user/").text == "user/bob", "the Go writes on the other substrate"
    )
    unknown = httpx.get(f"{one}/gokv", params={"db": "/unknown", "op": "get"}, headers=HOST)
    assert unknown.status_code == 500
    assert "database create failed" in unknown.text
    # the WAT function reads what the Go one wrote: the same keyspace
    assert kv(one, "get", "user/bob", db="/logs/go").content == b"b"


class Writer:
    """Puts keys `w000000`, `w000001`, ... through one substrate until stopped, noting the acknowledged."""

    def __init__(self, url: str, db: str) -> None:
        self.url, self.db = url, db
        self.acknowledged: list[str] = []
        self.refused = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        with httpx.Client(headers=HOST, timeout=10) as client:
            for i in range(1_000_000):
                if self.stop.is_set():
                    return
                key = f"w{i:06d}"
                params = {"db": self.db, "op": "put", "k": key}
                try:
                    answer = client.post(f"{self.url}/kv", params=params, content=b"v")
                except httpx.HTTPError:
                    continue
                if answer.text == "put:0":
                    self.acknowledged.append(key)
                else:
                    self.refused += 1

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


def kill9_and_wait(universe: UniverseHandle, node: dict[str, Any]) -> None:
    os.kill(node["pid"], signal.SIGKILL)

    def restarted() -> bool:
        now = next(n for n in universe.nodes() if n["id"] == node["id"])
        return now["state"] == "up" and now["pid"] not in (None, node["pid"])

    wait_for(restarted, f"{node['name']} to be restarted", timeout=60)


def assert_none_lost(url: str, db: str, acknowledged: list[str]) -> None:
    assert acknowledged

    def lost() -> list[str]:
        listed = set(kv(url, "list", "w", db=db).content.decode().split("\0"))
        return [k for k in acknowledged if k not in listed]

    # Bounded: a substrate learns of the last writes from hoarder's change log.
    try:
        wait_for(lambda: not lost(), "every acknowledged write to be read", timeout=15)
    except AssertionError:
        missing = lost()
        raise AssertionError(f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}") from None


def test_no_acknowledged_write_is_lost_when_a_substrate_is_killed_during_writes(data: UniverseHandle) -> None:
    one, other = substrates(data)
    victim = next(
        n for n in sorted(data.nodes(), key=lambda n: n["name"]) if n["name"].startswith("substrate@")
    )
    with Writer(one, "/logs/kill") as writer:
        wait_for(lambda: len(writer.acknowledged) >= 20, "some writes to be acknowledged", timeout=60)
        kill9_and_wait(data, victim)
    assert_none_lost(other, "/logs/kill", writer.acknowledged)
    assert (
        kv(one, "get", writer.acknowledged[-1], db="/logs/kill").content == b"v"
    )  # the restarted one serves


def test_no_acknowledged_write_is_lost_when_hoarder_is_killed_during_writes(data: UniverseHandle) -> None:
    one, other = substrates(data)
    hoarder = data.node("hoarder")
    with Writer(one, "/logs/hoarder") as writer:
        wait_for(lambda: len(writer.acknowledged) >= 20, "some writes to be acknowledged", timeout=60)
        kill9_and_wait(data, hoarder)
        count = len(writer.acknowledged)
        wait_for(lambda: len(writer.acknowledged) > count + 20, "writes to be acknowledged again", timeout=60)
    assert_none_lost(other, "/logs/hoarder", writer.acknowledged)
    assert_none_lost(one, "/logs/hoarder", writer.acknowledged)


def test_globals_at_project_and_function_scope_with_the_go_sdk(data: UniverseHandle) -> None:
    one, other = substrates(data)

    def bump(url: str, scope: str, note: str = "") -> str:
        params = {"scope": scope, "note": note}
        return httpx.get(f"{url}/goglobals", params=params, headers=HOST, timeout=60).text

    assert httpx.get(f"{one}/peek", headers=HOST).text == "get:29"  # nothing yet: KeyNotFound
    assert bump(one, "project", "first") == "1 "
    assert bump(one, "project", "second") == "2 first"
    assert bump(one, "function") == "1 "  # the function's own scope: another value
    assert bump(one, "function") == "2 "
    # Another function reads the project's value (4 bytes, big-endian, as go-sdk's u32 stores it) ...
    assert httpx.get(f"{one}/peek", headers=HOST).content == (2).to_bytes(4, "big")
    # ... but not the first function's own: its function scope is its own
    assert httpx.get(f"{one}/peek", params={"fn": "1"}, headers=HOST).text == "get:29"
    # Application scope, for a function outside any application, is the project's (as upstream).
    assert bump(one, "application") == "3 second"
    wait_for(lambda: bump(other, "project") == "4 second", "the other substrate to see the globals")


def test_a_kept_universe_keeps_its_databases_across_a_restart(tmp_path: Path, dream_cache: Path) -> None:
    # A daemon of its own: a kept universe stays listed (stopped) after its test, in whatever daemon ran it.
    daemon = DaemonProcess(tmp_path / "home", cache=dream_cache).start()
    try:
        client = daemon.client()
        client.new_universe("keptkv", SHAPE, keep=True)
        universe = UniverseHandle(client, "keptkv")
        client.fixture(universe.name, "buildLocalProject", ["", "", str(KV), ""])
        assert kv(substrates(universe)[0], "put", "survivor", b"still here").text == "put:0"
        client.kill_universe(universe.name)
        client.new_universe(universe.name)  # its stored shape, data and ports
        for url in substrates(universe):
            assert kv(url, "get", "survivor").content == b"still here"
    finally:
        daemon.stop()


def store(
    url: str, op: str, name: str = "", data: bytes = b"", storage: str = "/uploads", **params: Any
) -> httpx.Response:
    query = {"storage": storage, "op": op, "name": name, **{k: str(v) for k, v in params.items()}}
    return httpx.post(f"{url}/gostore", params=query, content=data, headers=HOST, timeout=60)


def test_storage_files_with_versions_read_back_byte_for_byte_with_the_go_sdk(data: UniverseHandle) -> None:
    from dream.hoarder.cid import cid_of

    one, other = substrates(data)
    first, second = os.urandom(1000), os.urandom(2345)  # not multiples of the 7-byte reads
    used = int(store(one, "size").text.split("/")[0])  # other tests of this universe keep files too

    def files() -> str:
        return ",".join(f for f in store(one, "files").text.split(",") if f in ("avatar", "notes"))

    assert store(one, "add", "avatar", first).text == "version 1"
    assert store(one, "add", "avatar", second).text == "version 2"  # versioning: a new version
    assert store(one, "read", "avatar", version=1).content == first
    assert store(one, "read", "avatar", version=2).content == second
    assert store(one, "read", "avatar", version=0).content == second  # 0: the latest
    assert store(one, "versions", "avatar").text == "1,2"
    assert store(one, "current", "avatar").text == "2"
    assert store(one, "add", "notes", b"hello").text == "version 1"
    assert files() == "avatar,avatar,notes"  # every version of every file
    assert store(one, "cid", "avatar").text == cid_of(second)  # the CIDv1 hoarder computes
    assert store(one, "size").text == f"{used + 1000 + 2345 + 5}/10000"
    assert store(one, "add", "avatar", b"fixed", overwrite=1).text == "version 2"  # over the latest
    assert store(one, "read", "avatar", version=2).content == b"fixed"
    # the other substrate reads the same files
    wait_for(lambda: store(other, "read", "avatar", version=2).content == b"fixed", "the other substrate")
    assert store(other, "read", "avatar", version=1).content == first
    assert store(one, "delete", "avatar", version=1).text == "deleted"
    assert store(one, "versions", "avatar").text == "2"
    assert store(one, "deleteall", "avatar").text == "deleted"
    assert files() == "notes"
    assert store(one, "delete", "notes", version=0).text == "deleted"  # 0: the latest
    assert files() == ""


def test_storage_bad_input_gets_the_upstream_errno_and_serving_goes_on(data: UniverseHandle) -> None:
    url = substrates(data)[0]
    assert store(url, "add", "f", b"x" * 10, storage="/plain").text == "version 1"
    unversioned = store(url, "add", "f", b"y", storage="/plain")  # exists, no overwrite, no versioning
    assert (unversioned.status_code, unversioned.text) == (
        500,
        "adding file f failed with: add file failed",
    )
    assert store(url, "add", "f", b"y", storage="/plain", overwrite=1).text == "version 1"
    assert store(url, "read", "f", storage="/plain").content == b"y"
    nowhere = store(url, "files", storage="/nowhere").text  # no storage matches: 22, as upstream
    assert nowhere == "creating storage /nowhere failed with: database create failed"
    meta = "getting file {} failed with: storage get meta failed"  # 90
    assert store(url, "read", "missing").text == meta.format("missing")  # no such file
    assert store(url, "read", "f", storage="/plain", version=7).text == meta.format("f")  # no such version
    assert store(url, "read", "f", storage="/plain", version=-1).text == meta.format("f")  # a u32: huge
    assert store(url, "delete", "f", storage="/plain", version=-1).text.endswith("delete file failed")  # 33
    assert store(url, "versions", "missing").text.endswith("list file versions failed")  # 36
    big = store(url, "add", "big", os.urandom(10_001))  # /uploads holds 10KB = 10,000 bytes of files
    assert (big.status_code, big.text) == (500, "adding file big failed with: add file failed")
    assert store(url, "size").text.endswith("/10000")
    assert store(url, "read", "f", storage="/plain").content == b"y"  # still serving, nothing lost
    logs = Path(data.client.status()[data.name]["root"]).rglob("node.log")
    text = "".join(p.read_text(errors="replace") for p in logs)
    assert "storage `/uploads` of project" in text and "is full: adding 10001 bytes" in text
    assert "asked for storage `/nowhere`: no storage matches it" in text


def test_content_by_cid_with_the_go_sdk(data: UniverseHandle) -> None:
    from dream.hoarder.cid import cid_of

    one, other = substrates(data)
    body = os.urandom(3 * 1024 * 1024 + 5)  # written in pieces of 100000 bytes, pushed in 1 MiB pieces
    pushed = store(one, "push", data=body)
    assert pushed.status_code == 200, pushed.text
    refused, cid = pushed.text.split("\n")
    assert refused == "seeking content failed with: invalid whence"  # whence 7: 98
    assert cid == cid_of(body)  # the CIDv1 hoarder names blobs by
    assert store(other, "open", cid).content == body  # from hoarder, on the other substrate
    root = Path(data.client.status()[data.name]["root"])
    assert not list(root.rglob(".content-*")), "a content's file outlived its call"
    missing = store(one, "open", cid_of(b"never stored"))
    assert (missing.status_code, missing.text.endswith("cid not found")) == (500, True)  # 100


def test_reads_of_a_keyspace_held_here_never_wait(data: UniverseHandle) -> None:
    url = substrates(data)[0]
    assert kv(url, "put", "held", b"here", db="/logs/held").text == "put:0"
    assert kv(url, "get", "held", db="/logs/held").content == b"here"
    before = data.health("substrate")["databases"]["waits"]
    for _ in range(30):
        assert kv(url, "get", "held", db="/logs/held").content == b"here"
        assert kv(url, "list", "h", db="/logs/held").content == b"held\0"
    assert data.health("substrate")["databases"]["waits"] == before  # served from the replica
    assert kv(url, "put", "held", b"again", db="/logs/held").text == "put:0"
    assert data.health("substrate")["databases"]["waits"] > before  # a write waits for hoarder


def test_a_function_of_an_application_opens_the_application_s_database_first(data: UniverseHandle) -> None:
    url = substrates(data)[0]
    assert kv(url, "put", "who", b"project").text == "put:0"
    assert shopkv(url, "put", "who", b"shop").text == "put:0"  # the shop's /users: its `orders` database
    assert kv(url, "get", "who").content == b"project"
    assert shopkv(url, "get", "who").content == b"shop"
    big = b"x" * 5000  # past the project's /users (4KB), within the shop's (100KB)
    assert (kv(url, "put", "big", big).text, shopkv(url, "put", "big", big).text) == ("put:24", "put:0")
    assert shopkv(url, "del", "big").text == "del:0"
    # a name only the project has: the application's function opens the project's database
    assert shopkv(url, "put", "k", b"v", db="/logs/shared").text == "put:0"


def test_globals_at_application_scope(data: UniverseHandle) -> None:
    url = substrates(data)[0]

    def bump(path: str, **scope: str) -> int:
        answer = httpx.get(f"{url}/{path}", params=scope, headers=HOST, timeout=30)
        assert answer.status_code == 200, answer.text
        return int.from_bytes(answer.content, "big")

    project = bump("bump")  # the project's scope (shared with the Go function's `counter`)
    assert bump("shopbump") == project + 1  # an application's function reaches the project scope too
    assert bump("shopbump", app="1") == 1  # its application's scope
    assert bump("shopbump", app="1") == 2
    assert bump("shopbump", app="1", fn="1") == 1  # application and function
    assert bump("shopbump", fn="1") == 1  # the function alone
    assert bump("bump", app="1") == project + 2  # no application: the project's scope, as upstream
    assert bump("bump", fn="1") == 1


def test_an_inline_call_that_must_write_is_rerun_on_a_worker_not_failed(data: UniverseHandle) -> None:
    url = substrates(data)[0]
    assert kv(url, "put", "strict", b"before", db="/logs/inline").text == "put:0"
    params = {"db": "/logs/inline", "op": "get", "k": "strict"}

    def put_rerun() -> bool:
        # Quick reads until the function runs inline on the event loop (runner.QUICK_STREAK quick calls,
        # a slower one taking runner.SLOW_WORKER_COST off the count), then a put. A put cannot be
        # made inline: the call is given up at the put (which fails there, and this function then
        # traps) and rerun on a worker, where the put succeeds: the client sees only that.
        with httpx.Client(headers=HOST, timeout=30) as client:
            for _ in range(40):
                assert client.post(f"{url}/kv", params=params).content == b"before"
        rerun = data.health("substrate")["calls"]["rerun"]
        answer = kv(url, "strict", "strict", b"before", db="/logs/inline")
        assert (answer.status_code, answer.text) == (200, "put:0")
        return bool(data.health("substrate")["calls"]["rerun"] == rerun + 1)

    wait_for(put_rerun, "a put from an inline call to be rerun on a worker", timeout=120)
    assert kv(url, "strict", "strict", b"after", db="/logs/inline").text == "put:0"
    assert kv(url, "get", "strict", db="/logs/inline").content == b"after"


def test_a_second_hoarder_keeps_a_copy_of_the_databases(module_universe_factory: Any) -> None:
    from dream.clients.hoarder import space_id

    shape = {**SHAPE, "Services": {**SHAPE["Services"], "hoarder": {"Others": {"copies": 2}}}}
    universe: UniverseHandle = module_universe_factory("twohoarders", config=shape)
    universe.client.fixture(universe.name, "buildLocalProject", ["", "", str(KV), ""])
    url = substrates(universe)[0]
    assert kv(url, "put", "copied", b"on both").text == "put:0"
    assert kv(url, "put", "gone", b"soon").text == "put:0"
    assert kv(url, "del", "gone").text == "del:0"
    hoarders = [n for n in universe.nodes() if n["name"].startswith("hoarder@")]
    assert len(hoarders) == 2
    space = space_id("QmDataKvProject000000000000000000000000000001", None, "/users")
    with universe.node_client() as client:

        def held(node: dict[str, Any], key: str) -> bytes | None:
            answer = client.get(
                f"http://127.0.0.1:{node['ports']['p2p']}/hoarder/db/get", params={"space": space, "key": key}
            )
            return answer.content if answer.status_code == 200 else None

        for node in hoarders:  # the home and its standby
            wait_for(lambda node=node: held(node, "copied") == b"on both", f"{node['id']} to hold the put")
            assert held(node, "gone") is None
