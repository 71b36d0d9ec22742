from __future__ import annotations

import pytest
from multiformats import CID

from dream.tcc import tns_keys as keys
from dream.tcc.ids import is_cid, is_valid_id, new_project_id, new_resource_id

PID = "QmProject"


def test_reversed_fqdn_and_http_keys() -> None:
    assert keys.reversed_fqdn("gftxhd6h0.blackhole.localtau") == ["localtau", "blackhole", "gftxhd6h0"]
    assert keys.reversed_fqdn("A.B.com.") == ["com", "b", "a"]
    assert keys.http_links_key("functions", "gftxhd6h0.blackhole.localtau") == (
        "http/functions/localtau/blackhole/gftxhd6h0/links"
    )
    assert keys.http_links_key("websites", "a.b.com") == "http/websites/com/b/a/links"
    assert keys.domain_links_key("a.b.com") == "domains/com/b/a/links"
    with pytest.raises(ValueError, match="not a domain name"):
        keys.reversed_fqdn("a..b")
    with pytest.raises(ValueError, match="functions and websites"):
        keys.http_links_key("libraries", "a.b.com")


def test_project_and_resource_keys() -> None:
    assert keys.project_prefix("main", "abc123", PID) == "branches/main/commit/abc123/projects/QmProject"
    assert keys.resource_key("main", "abc", PID, "functions", "F1") == (
        "branches/main/commit/abc/projects/QmProject/functions/F1"
    )
    assert keys.resource_key("main", "abc", PID, "functions", "F1", app="A1") == (
        "branches/main/commit/abc/projects/QmProject/applications/A1/functions/F1"
    )
    assert keys.index_key("main", PID, "websites", "W1") == "branches/main/projects/QmProject/websites/W1"
    assert keys.index_key("dev", PID, "functions", "F1", app="A1") == (
        "branches/dev/projects/QmProject/applications/A1/functions/F1"
    )
    assert keys.current_key(PID, "main") == "projects/QmProject/branches/main/current"
    with pytest.raises(ValueError, match="unknown resource kind"):
        keys.index_key("main", PID, "function", "F1")
    with pytest.raises(ValueError, match="cannot be a TNS path segment"):
        keys.project_prefix("feature/x", "abc", PID)


def test_index_to_resource_key_round_trip() -> None:
    for app in (None, "A1"):
        index = keys.index_key("main", PID, "functions", "F1", app=app)
        assert keys.index_to_resource_key(index, "c0ffee") == keys.resource_key(
            "main", "c0ffee", PID, "functions", "F1", app=app
        )
    with pytest.raises(ValueError, match="not an index path"):
        keys.index_to_resource_key("http/functions/com/b/a/links", "c0ffee")


def test_wasm_repo_and_resolve_keys() -> None:
    assert keys.wasm_module_links_key(PID, "functions", "ping") == (
        "wasm/project/QmProject/modules/functions/ping/links"
    )
    assert keys.wasm_module_links_key(PID, "smartops", "guard", app="A1") == (
        "wasm/project/QmProject/application/A1/modules/smartops/guard/links"
    )
    assert keys.repo_type_key(123, PID) == "repositories/github/123/QmProject/type"
    assert keys.repo_resource_key("123", PID, "W1") == "repositories/github/123/QmProject/resources/W1"
    assert keys.resolve_repo_key(42) == "resolve/repo/github/42"
    assert keys.split_key("a/b//c/") == ["a", "b", "c"]


def test_asset_key_is_a_stable_sha256_multihash() -> None:
    key = keys.asset_key(PID, "F1", "main")
    assert key == keys.asset_key(PID, "F1", "main")
    assert key != keys.asset_key(PID, "F1", "dev")
    digest = key.removeprefix("assets/")
    assert digest.startswith("Qm") and len(digest) == 46
    # Same text as a CIDv0, whose multihash is sha2-256 of pid + resId + branch.
    assert CID.decode(digest).digest == CID.decode(keys.asset_hash(PID, "F1", "main")).digest
    import hashlib

    assert CID.decode(digest).raw_digest == hashlib.sha256(b"QmProjectF1main").digest()


def test_new_ids_are_cids() -> None:
    first, second = new_resource_id(), new_project_id()
    assert first != second
    for value in (first, second):
        assert value.startswith("Qm") and len(value) == 46
        assert is_cid(value) and is_valid_id(value)
    assert not is_cid("QmDemo") and is_valid_id("QmDemo")
    assert not is_valid_id("a/b") and not is_valid_id("") and not is_valid_id(None)
