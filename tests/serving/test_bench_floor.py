"""The serving benchmark's floor server answers like an HTTP/1.1 server, so the floor it reports is a
real one: PONG with keep-alive, pipelined requests answered in order, a malformed request closes."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dream.daemon.ports import free_port
from dream.testing.harness import wait_for

BENCH = Path(__file__).resolve().parents[2] / "bench" / "serving.py"


@pytest.fixture
def floor() -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(BENCH), "--floor", str(port)], stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: _answers(port), "the floor server to listen", timeout=30)
        yield port
    finally:
        process.kill()
        process.wait(timeout=10)


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/ping", timeout=2).text == "PONG"
    except httpx.HTTPError:
        return False


def test_keep_alive_answers_pong_on_one_connection(floor: int) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{floor}") as client:
        for _ in range(3):
            response = client.get("/ping")
            assert (response.status_code, response.text) == (200, "PONG")
            assert response.headers["content-length"] == "4"
        assert response.http_version == "HTTP/1.1"


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_pipelined_requests_are_answered_in_order_and_garbage_closes(floor: int) -> None:
    with socket.create_connection(("127.0.0.1", floor), timeout=10) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: a\r\n\r\n" * 3 + b"NOT HTTP\r\n\r\n")
        data = _read_all(sock)  # the garbage closes the connection, so this ends
    assert data.count(b"HTTP/1.1 200 OK") == 3
    assert data.endswith(b"PONG")
