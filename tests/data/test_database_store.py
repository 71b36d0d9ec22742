"""Hoarder's database store (SQLite) and the substrate's replica ordering rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from dream.hoarder import databases
from dream.hoarder.databases import DatabaseFull, DatabaseStore
from dream.substrate.data import Replica

WHO = {"project": "QmP", "app": "", "name": "/users"}


def test_put_get_keys_delete_and_the_change_log(tmp_path: Path) -> None:
    store = DatabaseStore(tmp_path / "db.sqlite")
    s1 = store.put("sp", "a/1", b"one", limit=0, **WHO)
    s2 = store.put("sp", "a/2", b"two", limit=0, **WHO)
    store.put("other", "a/1", b"elsewhere", limit=0, **WHO)
    assert store.get("sp", "a/1") == b"one" and store.get("sp", "nope") is None
    assert store.keys("sp", "a/") == ["a/1", "a/2"] and store.keys("sp", "b") == []
    s4 = store.delete("sp", "a/1")
    assert store.get("sp", "a/1") is None and store.get("other", "a/1") == b"elsewhere"
    assert store.delete("sp", "a/1") == s4  # nothing to delete: no change logged
    seq, first, changes = store.changes(s1)
    assert seq == s4 and first == s1
    assert [(c.seq, c.space, c.key, c.value) for c in changes] == [
        (s2, "sp", "a/2", b"two"),
        (s2 + 1, "other", "a/1", b"elsewhere"),
        (s4, "sp", "a/1", None),
    ]
    snap_seq, rows = store.snapshot("sp")
    assert snap_seq == s4 and rows == [("a/2", b"two", s2)]
    store.close()
    again = DatabaseStore(tmp_path / "db.sqlite")  # durable across a reopen
    assert again.get("sp", "a/2") == b"two" and again.seq() == s4
    [space] = [s for s in again.spaces() if s["space"] == "sp"]
    assert (space["used"], space["keys"]) == (len("a/2") + 3, 1)


def test_the_size_limit_counts_keys_and_values_and_refuses_without_losing_anything(tmp_path: Path) -> None:
    store = DatabaseStore(tmp_path / "db.sqlite")
    store.put("sp", "k", b"x" * 9, limit=10, **WHO)  # exactly the limit
    with pytest.raises(
        DatabaseFull, match=r"database `/users` of project QmP is full: this put needs 11 bytes"
    ):
        store.put("sp", "j", b"", limit=10, **WHO)
    assert store.get("sp", "k") == b"x" * 9 and store.keys("sp") == ["k"]
    store.put("sp", "k", b"y" * 9, limit=10, **WHO)  # an overwrite frees the old value first
    assert store.get("sp", "k") == b"y" * 9


def test_the_change_log_is_trimmed_and_says_where_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(databases, "CHANGES_KEPT", 100)
    store = DatabaseStore(tmp_path / "db.sqlite")
    for i in range(1000):
        store.put("sp", f"k{i}", b"v", limit=0, **WHO)
    seq, first, changes = store.changes(0)
    assert seq == 1000 and first == 901 and changes[0].seq == 901


def test_a_replica_applies_each_key_s_newest_write_once_loaded() -> None:
    replica = Replica()
    replica.apply(7, "k", b"late")  # arrives while the snapshot is read: kept for later
    replica.apply(4, "gone", b"old")
    replica.base, replica.entries, replica.loaded = 5, {"k": (3, b"snap")}, True
    for seq, key, value in replica.pending:
        replica.apply(seq, key, value)
    assert replica.value("k") == b"late"
    assert replica.value("gone") is None  # at or before the snapshot: already in it (deleted since)
    replica.apply(6, "k", b"older")  # an older write of the key arriving after a newer one
    assert replica.value("k") == b"late"
    replica.apply(8, "k", None)
    assert replica.value("k") is None and replica.keys("") == []


FILE = {"project": "QmP", "app": "", "storage": "/uploads"}


def test_storage_versions_overwrite_capacity_and_deletes(tmp_path: Path) -> None:
    from dream.hoarder.databases import StorageRefused

    store = DatabaseStore(tmp_path / "db.sqlite")
    add = store.add_file
    assert add("st", "a", "bafy1", 4, overwrite=False, versioning=True, capacity=10, **FILE)[0] == 1
    assert add("st", "a", "bafy2", 4, overwrite=False, versioning=True, capacity=10, **FILE)[0] == 2
    with pytest.raises(StorageRefused, match="is full: adding 3 bytes to the 8 it holds passes its 10"):
        add("st", "b", "bafy3", 3, overwrite=False, versioning=True, capacity=10, **FILE)
    assert (
        add("st", "a", "bafy4", 6, overwrite=True, versioning=True, capacity=10, **FILE)[0] == 2
    )  # exactly full
    assert store.get("st", "/file/a/2") == b"bafy4" and store.get("st", "/version/a") == b"2"
    with pytest.raises(StorageRefused, match="has no version 7 \\(it has 1, 2\\)"):
        store.delete_file("st", "a", 7, storage="/uploads")
    store.delete_file("st", "a", 0, storage="/uploads")  # the latest
    assert store.keys("st", "/file/") == ["/file/a/1"] and store.get("st", "/version/a") == b"1"
    store.delete_file("st", "a", -1, storage="/uploads")
    assert store.keys("st") == []
    with pytest.raises(StorageRefused, match="has no file `a`"):
        store.delete_file("st", "a", -1, storage="/uploads")
    # without versioning: version 1 only, replaced with overwrite alone
    assert add("st", "p", "bafy5", 1, overwrite=False, versioning=False, capacity=0, **FILE)[0] == 1
    with pytest.raises(StorageRefused, match="exists \\(version 1\\); add it with overwrite"):
        add("st", "p", "bafy6", 1, overwrite=False, versioning=False, capacity=0, **FILE)
    assert add("st", "p", "bafy6", 1, overwrite=True, versioning=False, capacity=0, **FILE)[0] == 1


def test_names_resolve_in_the_application_first_then_the_project_exact_or_by_regex() -> None:
    from dream.substrate.resources import DEFAULT_DATABASE_SIZE, DEFAULT_STORAGE_SIZE, describe, resolve

    project = {
        "databases": {
            "d1": {"name": "users", "match": "/users", "regex": False, "size": 4000},
            "d2": {"name": "logs", "match": "^/logs/[a-z]+$", "regex": True, "size": 0},
        },
        "storages": {"s1": {"name": "up", "match": "/up", "regex": False, "size": 0, "versioning": True}},
        "applications": {"A": {"databases": {"d3": {"name": "orders", "match": "/users", "regex": False}}}},
    }
    found, _ = resolve(project, "P", None, "databases", "/users")
    assert found is not None and (found.database, found.limit, found.space) == (
        "users",
        4000,
        "P/-/db:/users",
    )
    in_app, tried = resolve(project, "P", "A", "databases", "/users")
    assert in_app is not None and (in_app.database, in_app.space) == ("orders", "P/A/db:/users")
    assert [c["name"] for c in tried] == [
        "orders",
        "users",
        "logs",
    ]  # the application's first; first match wins
    logs, _ = resolve(project, "P", "A", "databases", "/logs/abc")  # not in the application: the project's
    assert logs is not None and (logs.database, logs.limit) == ("logs", DEFAULT_DATABASE_SIZE)
    other, _ = resolve(project, "P", None, "databases", "/logs/xyz")
    assert other is not None and other.space != logs.space  # each name asked for: its own keyspace
    assert resolve(project, "P", None, "databases", "/logs/ABC")[0] is None  # the regex does not match
    assert resolve(project, "P", None, "databases", "/user")[0] is None  # exact means exact
    # Go's regexp.Match finds the pattern anywhere in the name (no anchors, no full match)
    loose = {"databases": {"d": {"name": "any", "match": "ab", "regex": True}}}
    assert resolve(loose, "P", None, "databases", "xxabyy")[0] is not None
    missing, candidates = resolve(project, "P", None, "databases", "/nothing")
    assert missing is None
    assert describe(candidates) == "`/users` (users), `^/logs/[a-z]+$` (logs, regex)"
    up, _ = resolve(project, "P", None, "storages", "/up")
    assert up is not None and (up.versioning, up.limit, up.space) == (
        True,
        DEFAULT_STORAGE_SIZE,
        "P/-/storage:/up",
    )


def test_a_standby_applies_the_home_s_changes_with_their_numbers_and_can_resync(tmp_path: Path) -> None:
    from dream.hoarder.databases import Change

    home = DatabaseStore(tmp_path / "home.sqlite")
    standby = DatabaseStore(tmp_path / "standby.sqlite")
    home.put("P/-/db:/users", "a", b"1", limit=0, **WHO)
    home.put("P/-/db:/users", "b", b"2", limit=0, **WHO)
    home.delete("P/-/db:/users", "a")
    home.put("P/globals", "/uint32/x", b"\0\0\0\1", limit=0, **WHO)
    _, _, changes = home.changes(0)
    standby.apply(changes)
    standby.apply(changes)  # twice: nothing changes
    assert standby.seq() == home.seq() and standby.keys("P/-/db:/users") == ["b"]
    assert standby.get("P/globals", "/uint32/x") == b"\0\0\0\1"
    assert {(s["space"], s["project"], s["app"], s["name"], s["used"]) for s in standby.spaces()} == {
        ("P/-/db:/users", "P", "", "/users", 2),
        ("P/globals", "P", "", "globals", len("/uint32/x") + 4),
    }
    standby.apply([Change(1, "P/-/db:/users", "b", b"stale")])  # older than what b holds: skipped
    assert standby.get("P/-/db:/users", "b") == b"2"
    seq, rows = home.snapshot("P/-/db:/users")
    fresh = DatabaseStore(tmp_path / "fresh.sqlite")
    fresh.replace_space("P/-/db:/users", rows, seq)  # a resync: the keyspace whole, as of seq
    assert fresh.keys("P/-/db:/users") == ["b"] and fresh.seq() == seq


def test_expired_lists_each_storage_s_files_past_their_time_and_nothing_else(tmp_path: Path) -> None:
    # The leading hoarder asks every second: it looks up each keyspace's expiry keys (a range of the
    # primary key), across keyspaces and beside keys that merely sort near them.
    store = DatabaseStore(tmp_path / "db.sqlite")
    who = {"project": "QmP", "app": "", "capacity": 0, "overwrite": False}
    store.add_file("QmP/-/storage:a", "gone", "bafy1", 1, versioning=False, storage="a", expires=100.0, **who)
    store.add_file("QmP/-/storage:a", "kept", "bafy2", 1, versioning=False, storage="a", expires=300.0, **who)
    store.add_file("QmP/-/storage:a", "forever", "bafy3", 1, versioning=False, storage="a", **who)
    store.add_file("QmP/-/storage:b", "old", "bafy4", 1, versioning=True, storage="b", expires=50.0, **who)
    store.add_file("QmP/-/storage:b", "old", "bafy5", 1, versioning=True, storage="b", expires=150.0, **who)
    for key in (databases.EXPIRES.rstrip("/"), databases.EXPIRES[:-1] + "0", "/expire/x/1"):
        store.put("QmP/-/database:d", key, b"1", limit=0, **WHO)  # a database's keys, not expiries
    assert databases.EXPIRES_END > databases.EXPIRES
    assert sorted(store.expired(120.0)) == [("QmP/-/storage:a", "gone", 1), ("QmP/-/storage:b", "old", 1)]
    assert sorted(store.expired(1000.0)) == [
        ("QmP/-/storage:a", "gone", 1),
        ("QmP/-/storage:a", "kept", 1),
        ("QmP/-/storage:b", "old", 1),
        ("QmP/-/storage:b", "old", 2),
    ]
    assert store.expired(10.0) == []
