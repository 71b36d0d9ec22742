"""CIDs of stashed blobs."""

from __future__ import annotations

from dream.hoarder.cid import cid_of, verify


def test_cid_is_v1_raw_sha256_base32() -> None:
    cid = cid_of(b"hello")
    assert cid == "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"
    assert verify(cid, b"hello") is None


def test_mismatch_and_garbage_are_explained() -> None:
    problem = verify(cid_of(b"hello"), b"tampered")
    assert problem is not None and problem.startswith("cid mismatch: declared ")
    assert "is not a CID" in (verify("not-a-cid", b"x") or "")
