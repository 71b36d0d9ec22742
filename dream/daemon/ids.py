"""Universe and peer ids: base58 strings like upstream's, deterministic where a universe is kept."""

from __future__ import annotations

import hashlib
import secrets

from dream.base58 import encode as base58


def universe_id(name: str, *, deterministic: bool) -> str:
    seed = name.encode() if deterministic else name.encode() + secrets.token_bytes(16)
    return "Qm" + base58(hashlib.sha256(seed).digest())[:44]


def peer_id(universe_id: str, dirname: str) -> str:
    return "12D3KooW" + base58(hashlib.sha256(f"{universe_id}/{dirname}".encode()).digest())[:44]
