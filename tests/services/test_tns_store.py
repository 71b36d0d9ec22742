"""TNS flattening semantics and the store's change log."""

from __future__ import annotations

from pathlib import Path

import pytest

from dream.node.store import KVStore
from dream.tns.flat import flatten, normalize, rebuild
from dream.tns.store import TnsStore


@pytest.fixture
def tns(tmp_path: Path) -> TnsStore:
    return TnsStore(KVStore(tmp_path / "node.db"))


def test_push_flattens_and_fetch_rebuilds(tns: TnsStore) -> None:
    tns.push(
        "branches/main/commit/c1/projects/p1", {"name": "demo", "functions": {"f1": {"paths": ["/ping"]}}}
    )
    assert tns.fetch("branches/main/commit/c1/projects/p1/name") == "demo"
    assert tns.fetch(["branches", "main", "commit", "c1", "projects", "p1", "functions", "f1"]) == {
        "paths": ["/ping"]
    }
    assert tns.fetch("branches/main/commit/c1/projects/p1") == {
        "name": "demo",
        "functions": {"f1": {"paths": ["/ping"]}},
    }
    assert tns.fetch("nothing/here") is None


def test_push_merges_and_lists_are_leaves(tns: TnsStore) -> None:
    tns.push("a", {"x": 1, "links": ["one", "two"]})
    tns.push("a", {"y": 2, "links": ["three"]})
    assert tns.fetch("a") == {"x": 1, "y": 2, "links": ["three"]}
    tns.push("a/x", {"deep": True})  # a map replaces a leaf
    assert tns.fetch("a/x") == {"deep": True}
    tns.push("a/x", 5)  # and a leaf replaces a map
    assert tns.fetch("a") == {"x": 5, "y": 2, "links": ["three"]}


def test_lookup_list_delete_and_changes(tns: TnsStore) -> None:
    tns.push("http/functions/com/example/links", ["p/1"])
    tns.push("http/websites/com/example/links", ["p/2"])
    assert tns.lookup("http/functions") == ["http/functions/com/example/links"]
    assert tns.lookup("links$", regex=True) == [
        "http/functions/com/example/links",
        "http/websites/com/example/links",
    ]
    assert tns.list(2) == [["http", "functions"], ["http", "websites"]]
    seq = tns.seq
    assert tns.delete("http/websites") == 1
    assert tns.fetch("http/websites") is None
    assert tns.changes(seq) == [(seq + 1, "http/websites")]
    assert [path for _, path in tns.changes(0)][:2] == [
        "http/functions/com/example/links",
        "http/websites/com/example/links",
    ]


def test_store_survives_reopen(tmp_path: Path) -> None:
    first = TnsStore(KVStore(tmp_path / "node.db"))
    first.push("projects/p/branches/main/current", {"current": "abc"})
    again = TnsStore(KVStore(tmp_path / "node.db"))
    assert again.fetch("projects/p/branches/main/current") == {"current": "abc"}
    assert again.seq == first.seq


@pytest.mark.parametrize("bad", ["", "/", ["a/b"]])
def test_bad_paths_are_refused(bad: str | list[str]) -> None:
    with pytest.raises(ValueError):
        normalize(bad)


def test_flatten_rebuild_round_trip() -> None:
    data = {"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None}
    assert rebuild("root", flatten("root", data)) == data
