"""`dream data` and the daemon's data API: what a project's functions keep, seen and changed from outside
(the CLI, the pytest plugin's `project_data`), and the same keyspaces the functions use."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from dream.api_token import read_token
from dream.clients.blobs import cid_of_digest
from dream.testing.data import ProjectData
from dream.testing.harness import DaemonProcess, UniverseHandle, wait_for
from tests.data.conftest import HOST, Peak, kv, shopkv, substrates

pytestmark = pytest.mark.e2e

PROJECT = "QmDataKvProject000000000000000000000000000001"


def dream(
    daemon: DaemonProcess, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "dream", *args],
        env={**daemon.env, "COLUMNS": "300"},
        input=stdin,
        capture_output=True,
        timeout=120,
    )


def test_data_list_shows_databases_storages_and_keyspaces(
    data: UniverseHandle, dream_daemon: DaemonProcess
) -> None:
    assert kv(substrates(data)[0], "put", "listed", b"x", db="/logs/cli").text == "put:0"
    shown = dream(dream_daemon, "data", "list", PROJECT, "-u", data.name, "--json")
    assert shown.returncode == 0, shown.stderr
    found = json.loads(shown.stdout)
    listed = {(d["name"], d["match"], d["regex"], d["size"], d["application"]) for d in found["databases"]}
    assert listed == {
        ("users", "/users", False, 4000, None),
        ("logs", "^/logs/[a-z]+$", True, 0, None),
        ("orders", "/users", False, 100000, "QmDataKvAppShop000000000000000000000000000001"),
    }
    assert {(s["name"], s["versioning"]) for s in found["storages"]} == {
        ("uploads", True),
        ("plain", False),
        ("big", False),
        ("bulk", False),
        ("stream", False),
    }
    assert any(k["name"] == "/logs/cli" and k["keys"] >= 1 for k in found["keyspaces"])
    table = dream(dream_daemon, "data", "list", PROJECT, "-u", data.name)
    assert (
        table.returncode == 0 and b"^/logs/[a-z]+$ (regex)" in table.stdout and b"/logs/cli" in table.stdout
    )


def test_cli_writes_are_read_by_functions_and_function_writes_by_the_cli(
    data: UniverseHandle, dream_daemon: DaemonProcess
) -> None:
    one, other = substrates(data)
    put = dream(dream_daemon, "data", "put", PROJECT, "/logs/cli", "from-cli", "hello there", "-u", data.name)
    assert put.returncode == 0, put.stderr
    for url in (one, other):  # through hoarder: both substrates read it
        wait_for(
            lambda url=url: kv(url, "get", "from-cli", db="/logs/cli").content == b"hello there", "the put"
        )
    binary = bytes(range(256))
    piped = dream(
        dream_daemon, "data", "put", PROJECT, "/logs/cli", "bin", "--file", "-", "-u", data.name, stdin=binary
    )
    assert piped.returncode == 0, piped.stderr
    wait_for(lambda: kv(one, "get", "bin", db="/logs/cli").content == binary, "the binary put")
    assert kv(one, "put", "from-fn", b"written by a function", db="/logs/cli").text == "put:0"
    got = dream(dream_daemon, "data", "get", PROJECT, "/logs/cli", "from-fn", "-u", data.name)
    assert (got.returncode, got.stdout) == (0, b"written by a function")
    raw = dream(dream_daemon, "data", "get", PROJECT, "/logs/cli", "bin", "-u", data.name)
    assert raw.stdout == binary
    keys = dream(
        dream_daemon, "data", "keys", PROJECT, "/logs/cli", "--prefix", "from-", "-u", data.name, "--json"
    )
    assert json.loads(keys.stdout) == ["from-cli", "from-fn"]
    gone = dream(dream_daemon, "data", "delete", PROJECT, "/logs/cli", "from-fn", "-u", data.name)
    assert gone.returncode == 0, gone.stderr
    wait_for(lambda: kv(other, "get", "from-fn", db="/logs/cli").text == "get:29", "the delete")


def test_cli_files_in_storages(data: UniverseHandle, dream_daemon: DaemonProcess, tmp_path: Path) -> None:
    url = substrates(data)[0]
    source = tmp_path / "report.bin"
    source.write_bytes(b"\x00report\xff" * 100)
    written = dream(
        dream_daemon, "data", "write", PROJECT, "/uploads", "report", str(source), "-u", data.name, "--json"
    )
    assert written.returncode == 0, written.stderr
    version = json.loads(written.stdout)["version"]

    def read() -> bytes:
        params = {"storage": "/uploads", "op": "read", "name": "report"}
        return httpx.post(f"{url}/gostore", params=params, headers=HOST, timeout=60).content

    wait_for(lambda: read() == source.read_bytes(), "a function to read what the CLI wrote")
    httpx.post(
        f"{url}/gostore",
        params={"storage": "/uploads", "op": "add", "name": "report"},
        content=b"second",
        headers=HOST,
        timeout=60,
    )
    files = json.loads(
        dream(dream_daemon, "data", "files", PROJECT, "/uploads", "-u", data.name, "--json").stdout
    )
    mine = sorted((f["version"], f["size"]) for f in files if f["name"] == "report")
    assert mine == [(version, 800), (version + 1, 6)]
    latest = dream(dream_daemon, "data", "read", PROJECT, "/uploads", "report", "-u", data.name)
    assert latest.stdout == b"second"
    out = tmp_path / "first.bin"
    first = dream(
        dream_daemon,
        "data",
        "read",
        PROJECT,
        "/uploads",
        "report",
        "--version",
        str(version),
        "-o",
        str(out),
        "-u",
        data.name,
    )
    assert first.returncode == 0 and out.read_bytes() == source.read_bytes()


BIG = 32 * 1024 * 1024  # a large file for the `/bulk` storage (it holds 64MB)


def test_cli_streams_a_large_file_through_the_daemon_without_holding_it(
    data: UniverseHandle, dream_daemon: DaemonProcess, tmp_path: Path
) -> None:
    source = tmp_path / "large.bin"
    block = hashlib.sha256(b"large").digest() * (1 << 15)  # 1 MiB of varied bytes
    with open(source, "wb") as fh:
        for n in range(BIG // len(block)):
            fh.write(bytes([n]) + block[1:])
    assert dream_daemon.process is not None
    # Warm the daemon's routes up first, so its peak measures the file alone.
    small = tmp_path / "small.bin"
    small.write_bytes(b"warm")
    assert (
        dream(dream_daemon, "data", "write", PROJECT, "/bulk", "warm", str(small), "-u", data.name).returncode
        == 0
    )
    assert dream(dream_daemon, "data", "read", PROJECT, "/bulk", "warm", "-u", data.name).stdout == b"warm"
    peak = Peak(dream_daemon.process.pid)
    written = dream(
        dream_daemon, "data", "write", PROJECT, "/bulk", "large", str(source), "-u", data.name, "--json"
    )
    assert written.returncode == 0, written.stderr
    done = json.loads(written.stdout)
    assert done["size"] == BIG and done["cid"] == cid_of_digest(hashlib.sha256(source.read_bytes()).digest())
    out = tmp_path / "back.bin"
    read = dream(dream_daemon, "data", "read", PROJECT, "/bulk", "large", "-o", str(out), "-u", data.name)
    assert read.returncode == 0, read.stderr
    assert f"({BIG} bytes) to {out}".encode() in read.stdout
    assert out.read_bytes() == source.read_bytes()
    growth = peak.growth()
    print("daemon peak memory growth, MiB:", round(growth / 2**20, 1))
    assert growth < BIG, growth  # chunks only: two copies (base64 JSON, then the bytes) would be far more
    piped = dream(dream_daemon, "data", "read", PROJECT, "/bulk", "large", "-u", data.name)
    assert piped.returncode == 0 and piped.stdout == source.read_bytes()
    assert not list((dream_daemon.home / "data-spool").iterdir())  # nothing left on the way


def test_file_routes_json_and_streamed_refuse_bad_input(
    data: UniverseHandle, dream_daemon: DaemonProcess, tmp_path: Path
) -> None:
    api = httpx.Client(
        base_url=f"{dream_daemon.url}/data/{data.name}/{PROJECT}",
        headers={"authorization": f"Bearer {read_token(dream_daemon.home)}"},
        timeout=60,
    )
    with api:
        as_json = {"storage": "/plain", "name": "json.txt", "text": "in JSON"}
        assert api.post("/file", json=as_json).json()["size"] == 7
        bad = api.post("/file", json={**as_json, "text": None, "base64": "not base64!"})
        assert bad.status_code == 400 and "`base64` is not base64 text" in bad.json()["error"]
        query = {"storage": "/plain", "name": "raw.bin"}
        maybe = api.post("/file/bytes", params={**query, "overwrite": "maybe"}, content=b"x")
        assert maybe.status_code == 400 and maybe.json()["error"] == "`overwrite` must be 1 or 0, got `maybe`"
        nowhere = api.post("/file/bytes", params={**query, "storage": "/nowhere"}, content=b"x")
        assert "no storage of project `kv` matches `/nowhere`" in nowhere.json()["error"]
        assert api.post("/file/bytes", params=query, content=b"raw").json()["size"] == 3
        back = api.get("/file/bytes", params=query)
        assert back.content == b"raw" and back.headers["x-dream-storage"] == "/plain"
        missing = api.get("/file/bytes", params={**query, "name": "never"})
        assert missing.status_code == 400 and "has no file `never`" in missing.json()["error"]
    big = tmp_path / "past-the-limit.bin"
    big.write_bytes(b"z" * 20_000)  # `/uploads` holds 10KB
    full = dream(dream_daemon, "data", "write", PROJECT, "/uploads", "too-big", str(big), "-u", data.name)
    assert full.returncode == 1 and b"is full" in full.stderr
    out = tmp_path / "never.bin"
    gone = dream(dream_daemon, "data", "read", PROJECT, "/plain", "never", "-o", str(out), "-u", data.name)
    assert gone.returncode == 1 and b"has no file `never`" in gone.stderr and not out.exists()
    unreadable = dream(
        dream_daemon, "data", "write", PROJECT, "/plain", "x", str(tmp_path / "nope"), "-u", data.name
    )
    assert unreadable.returncode == 1 and b"cannot read" in unreadable.stderr


def test_cli_bad_input_says_what_and_how_to_fix(data: UniverseHandle, dream_daemon: DaemonProcess) -> None:
    unknown = dream(dream_daemon, "data", "get", PROJECT, "/nothing", "k", "-u", data.name)
    assert unknown.returncode == 1
    assert b"no database of project `kv` matches `/nothing` (its databases: " in unknown.stderr
    assert b"`/users` (users)" in unknown.stderr and b"`^/logs/[a-z]+$` (logs, regex)" in unknown.stderr
    missing = dream(dream_daemon, "data", "get", PROJECT, "/users", "never-put", "-u", data.name)
    assert missing.returncode == 1 and b"has no key `never-put`" in missing.stderr
    full = dream(dream_daemon, "data", "put", PROJECT, "/users", "huge", "x" * 5000, "-u", data.name)
    assert full.returncode == 1 and b"is full" in full.stderr
    nowhere = dream(dream_daemon, "data", "list", "QmNoSuchProject", "-u", data.name)
    assert nowhere.returncode == 1 and b"has no published config" in nowhere.stderr


def test_project_data_fixture_seeds_and_reads(
    data: UniverseHandle, project_data: Callable[..., ProjectData]
) -> None:
    store = project_data(PROJECT, universe=data)
    store.seed("/logs/seeded", {"a": "1", "b": b"\x00two"})
    url = substrates(data)[0]
    wait_for(lambda: kv(url, "get", "b", db="/logs/seeded").content == b"\x00two", "the seeded value")
    assert kv(url, "put", "c", b"three", db="/logs/seeded").text == "put:0"
    assert store.keys("/logs/seeded") == ["a", "b", "c"]
    assert store.get("/logs/seeded", "c") == b"three" and store.get("/logs/seeded", "zzz") is None
    assert store.write_file("/plain", "seeded.txt", b"file") == 1
    assert store.read_file("/plain", "seeded.txt") == b"file"
    assert [f["name"] for f in store.files("/plain")].count("seeded.txt") == 1
    store.delete("/logs/seeded", "a")
    assert store.keys("/logs/seeded") == ["b", "c"]


def test_cli_names_resolve_in_an_application_with_app(
    data: UniverseHandle, dream_daemon: DaemonProcess
) -> None:
    url = substrates(data)[0]
    assert shopkv(url, "put", "cli-app", b"in the shop").text == "put:0"
    shop = dream(dream_daemon, "data", "get", PROJECT, "/users", "cli-app", "--app", "shop", "-u", data.name)
    assert (shop.returncode, shop.stdout) == (0, b"in the shop")
    project = dream(dream_daemon, "data", "get", PROJECT, "/users", "cli-app", "-u", data.name)
    assert project.returncode == 1 and b"has no key `cli-app`" in project.stderr  # the project's /users
    unknown = dream(dream_daemon, "data", "keys", PROJECT, "/users", "--app", "nope", "-u", data.name)
    assert unknown.returncode == 1
    assert b"has no application `nope` (its applications: shop (QmDataKvAppShop" in unknown.stderr
