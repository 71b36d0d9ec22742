"""Content ids: CIDv1, raw codec, sha2-256, base32 (`bafkrei...`), computed with `multiformats`."""

from __future__ import annotations

# multiformats is imported on first use (~40 modules): the hoarder node need not load it to start.


def cid_of(data: bytes) -> str:
    from multiformats import CID, multihash

    return str(CID("base32", 1, "raw", multihash.digest(data, "sha2-256")))


def verify(declared: str, data: bytes) -> str | None:
    """None when `data` has the declared CID, else the reason it does not."""
    from multiformats import CID, multihash

    try:
        cid = CID.decode(declared)
    except (ValueError, KeyError) as exc:
        return f"header `x-cid`: `{declared}` is not a CID ({exc}); leave it out to have the CID computed"
    actual = CID("base32", cid.version, cid.codec, multihash.digest(data, cid.hashfun.name))
    if str(actual.set(base=cid.base)) != str(cid):
        return (
            f"cid mismatch: declared {declared} (header `x-cid`), but the body's CID is {cid_of(data)};"
            " send the blob that CID names, or leave `x-cid` out"
        )
    return None
