"""A storage file near its limit (64 MiB) goes function → substrate → hoarder → the other substrate in
chunks: it reads back byte for byte, and no node's peak memory grows by anything like a copy of it."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest

from dream.clients.blobs import cid_of_digest
from dream.testing.harness import UniverseHandle
from tests.data.conftest import HOST, Peak, substrates

pytestmark = pytest.mark.e2e

SIZE = 64 * 1024 * 1024  # the `/big` storage holds 100MB


def pattern_digest(size: int) -> bytes:
    """sha-256 of the file the Go function makes: byte i is i*7 mod 251 (a period of 251 bytes)."""
    period = bytes(i * 7 % 251 for i in range(251))
    block = period * (1 << 16)  # a whole number of periods
    digest = hashlib.sha256()
    left = size
    while left:
        part = block[: min(left, len(block))]
        digest.update(part)
        left -= len(part)
    return digest.digest()


def test_a_file_near_the_limit_streams_through_without_copies_in_memory(data: UniverseHandle) -> None:
    one, other = substrates(data)
    nodes = sorted(data.nodes(), key=lambda n: n["name"])
    writer, reader = [n for n in nodes if n["name"].startswith("substrate@")]
    hoarder = data.node("hoarder")

    def store(url: str, **params: Any) -> httpx.Response:
        return httpx.post(f"{url}/gostore", params={"storage": "/big", **params}, headers=HOST, timeout=120)

    # A first small file warms both substrates up (the function loaded, the storage opened).
    assert store(one, op="fill", name="warm", size=1000).text == "version 1"
    assert store(other, op="sum", name="warm").text.startswith("1000 ")
    peaks = [Peak(writer["pid"]), Peak(reader["pid"]), Peak(hoarder["pid"])]
    added = store(one, op="fill", name="big", size=SIZE)
    assert added.text == "version 1", added.text
    summed = store(other, op="sum", name="big")  # read on the other substrate: fetched from hoarder
    digest = pattern_digest(SIZE)
    assert summed.text == f"{SIZE} {digest.hex()}"
    assert store(one, op="cid", name="big").text == cid_of_digest(digest)
    writer_growth, reader_growth, hoarder_growth = (p.growth() for p in peaks)
    grown = {"writer": writer_growth, "reader": reader_growth, "hoarder": hoarder_growth}
    print("peak memory growth, MiB:", {k: round(v / 2**20, 1) for k, v in grown.items()})
    # The writer's guest holds the file (its memory is the substrate's): anything more than that
    # and a half would be a copy; the reader and hoarder hold chunks only.
    assert writer_growth < 1.5 * SIZE + 32 * 2**20, grown
    assert reader_growth < SIZE / 2, grown
    assert hoarder_growth < SIZE / 4, grown
