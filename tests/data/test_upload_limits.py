"""The limits of hoarder's piecewise uploads and of a streaming storage's ttl, each at its edge."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request

from dream.hoarder import uploads as uploads_module
from dream.hoarder.database_routes import MAX_TTL, STORAGE_ADD
from dream.hoarder.uploads import UPLOAD_IDLE, Uploads
from dream.node.validate import BadInput

UPLOAD = "4f2a9c0e1b7d3a5f"


def _request(query: str, body: bytes = b"") -> Request:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/hoarder/upload",
        "query_string": query.encode(),
        "headers": [],
    }
    return Request(scope, receive)


def _piece(uploads: Uploads, offset: int, data: bytes) -> Any:
    return asyncio.run(uploads.piece(_request(f"id={UPLOAD}&offset={offset}", data)))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(uploads_module.time, "monotonic", lambda: now[0])
    return now


def test_an_upload_idle_for_exactly_upload_idle_is_kept(tmp_path: Path, clock: list[float]) -> None:
    uploads = Uploads(tmp_path)
    assert _piece(uploads, 0, b"abc") == {"size": 3}
    clock[0] += UPLOAD_IDLE
    assert _piece(uploads, 3, b"def") == {"size": 6}
    assert uploads.take(UPLOAD).size == 6


def test_an_upload_idle_past_upload_idle_is_dropped_with_a_sentence(
    tmp_path: Path, clock: list[float]
) -> None:
    uploads = Uploads(tmp_path)
    _piece(uploads, 0, b"abc")
    clock[0] += UPLOAD_IDLE + 0.001
    # The next piece finds the upload gone: it starts again from byte 0, and says so.
    with pytest.raises(BadInput, match=r"upload 4f2a9c0e1b7d3a5f is at byte 0, not 3: send the piece from 0"):
        _piece(uploads, 3, b"def")
    with pytest.raises(BadInput, match=rf"dropped after {UPLOAD_IDLE:g}s"):
        uploads.take(UPLOAD)
    assert not any(tmp_path.glob(".*.tmp"))  # the dropped upload's file is gone


def test_a_streaming_ttl_of_max_ttl_is_taken_and_one_past_it_refused() -> None:
    base = "space=s&name=f&overwrite=0&versioning=1&capacity=10&project=p&storage=st&ttl="
    assert STORAGE_ADD.read(_request(base + f"{MAX_TTL:.0f}"))["ttl"] == MAX_TTL
    with pytest.raises(BadInput, match="ttl"):
        STORAGE_ADD.read(_request(base + f"{MAX_TTL + 1:.0f}"))
