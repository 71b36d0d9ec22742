"""A streaming storage's `ttl`: a file is read back until its time runs out, then it is gone, on every
substrate, and its bytes no longer count against the storage's size."""

from __future__ import annotations

import time

import pytest

from dream.testing.harness import UniverseHandle, wait_for
from tests.data.conftest import substrates
from tests.data.test_databases import store

pytestmark = pytest.mark.e2e

TTL = 2.0  # storages/stream.yaml
MISSING = "getting file {} failed with: storage get meta failed"  # errno 90, as upstream


def test_a_streaming_storage_removes_files_past_their_ttl(data: UniverseHandle) -> None:
    one, other = substrates(data)
    added = time.monotonic()
    assert store(one, "add", "frame", b"live bytes", storage="/stream").text == "version 1"
    assert store(other, "read", "frame", storage="/stream").content == b"live bytes"
    assert "frame" in store(one, "files", storage="/stream").text.split(",")
    wait_for(
        lambda: store(other, "read", "frame", storage="/stream").text == MISSING.format("frame"),
        "the file to be removed once its ttl passed",
        timeout=30,
    )
    assert time.monotonic() - added >= TTL  # not before its time
    assert "frame" not in store(one, "files", storage="/stream").text.split(",")
    assert store(one, "size", storage="/stream").text == "0/1000000"
    # A file added again lives its own ttl.
    assert store(one, "add", "frame", b"again", storage="/stream").text == "version 1"
    assert store(one, "read", "frame", storage="/stream").content == b"again"
