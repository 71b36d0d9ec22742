"""Project and resource ids shaped like upstream's: CIDv0 strings (`Qm…`, base58btc sha2-256)."""

from __future__ import annotations

import re
import secrets

# Ids become TNS path segments, so anything that keeps a path unambiguous is accepted: upstream
# makes CIDs, while hand-written fixtures and other dream parts use shorter `Qm…`-like strings.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def _random_cid() -> str:
    from multiformats import CID, multihash  # imported on use: it is slow to load (~0.1 s)

    digest = multihash.digest(secrets.token_bytes(32), "sha2-256")
    return str(CID("base58btc", 0, "dag-pb", digest))


def new_resource_id() -> str:
    """A fresh random id for a function, domain, website... (`Qm…`, 46 characters)."""
    return _random_cid()


def new_project_id() -> str:
    """A fresh random project id (`Qm…`, 46 characters)."""
    return _random_cid()


def is_valid_id(text: object) -> bool:
    """Whether `text` can be used as an id: one path-safe token (letters, digits, `_`, `.`, `-`)."""
    return isinstance(text, str) and _ID.fullmatch(text) is not None


def is_cid(text: object) -> bool:
    """Whether `text` decodes as a CID (v0 `Qm…` or v1 multibase)."""
    if not isinstance(text, str):
        return False
    from multiformats import CID

    try:
        CID.decode(text)
    except Exception:  # multiformats raises several unrelated types for bad input
        return False
    return True
