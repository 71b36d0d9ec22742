"""The serving benchmark's tail client (bench/tail_client.c) times every request as a client sees it,
`outside_slowed` leaves out exactly the requests that met a moment the host probe saw slowed, and
`as_wrk_counts` counts them as wrk does, so the tails the benchmark reports are real ones."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving.test_bench_relay_floor import Accepting, _bench

BODY_AFTER = 0.02  # seconds the slow server waits between an answer's head and its body


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    binary = _bench().build_tail_client(tmp_path_factory.mktemp("tail-client"))
    assert binary is not None, "the system C compiler (cc) builds bench/tail_client.c"
    return Path(binary)


class Server(Accepting):
    """Answers every request on 127.0.0.1 with PONG: the head, then (`slow`) the body BODY_AFTER later;
    with `close`, closes each connection after its first answer. Keeps every request head it read."""

    def __init__(self, *, slow: bool = False, close: bool = False) -> None:
        self.slow, self.close = slow, close
        self.heads: list[bytes] = []
        super().__init__(socket.create_server(("127.0.0.1", 0)))
        self.port = self.listener.getsockname()[1]

    def take(self, conn: socket.socket) -> None:
        threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            pending = b""
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                pending += data
                while b"\r\n\r\n" in pending:
                    head, pending = pending.split(b"\r\n\r\n", 1)
                    self.heads.append(head)
                    if not self._answer(conn) or self.close:
                        return

    def _answer(self, conn: socket.socket) -> bool:
        framing = b"connection: close\r\n" if self.close else b""
        try:
            conn.sendall(b"HTTP/1.1 200 OK\r\n%scontent-length: 4\r\n\r\n" % framing)
            if self.slow:
                time.sleep(BODY_AFTER)  # the subject: a body that comes after its head
            conn.sendall(b"PONG")
        except OSError:  # the client has ended its run
            return False
        return True


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[Server]:
    server = Server(**getattr(request, "param", {}))
    try:
        yield server
    finally:
        server.listener.close()


def _run(client: Path, port: int, connections: int, out: Path) -> dict[str, int]:
    done = subprocess.run(
        [str(client), str(port), str(connections), "1", "hello.computers.com", "/ping", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return {key: int(value) for key, value in (part.split("=") for part in done.stdout.split())}


@pytest.mark.parametrize("served", [{"slow": True}], indirect=True)
def test_every_request_is_timed_to_the_end_of_its_body(client: Path, served: Server, tmp_path: Path) -> None:
    out = tmp_path / "requests"
    counts = _run(client, served.port, 2, out)
    records = _bench()._int64_pairs(out)
    assert counts["errors"] == 0
    assert counts["requests"] == len(records) > 10
    assert all(took >= BODY_AFTER * 1e9 for _, took in records)  # the head alone did not end a request
    assert all(head == b"GET /ping HTTP/1.1\r\nHost: hello.computers.com" for head in served.heads)
    # Two connections, one request in flight on each: a request is sent once the one before has ended.
    ends = sorted(sent + took for sent, took in records)
    sents = sorted(sent for sent, _ in records)
    assert all(sent >= end for sent, end in zip(sents[2:], ends, strict=False))


@pytest.mark.parametrize("served", [{"close": True}], indirect=True)
def test_a_closed_connection_is_opened_again_and_counted(
    client: Path, served: Server, tmp_path: Path
) -> None:
    counts = _run(client, served.port, 1, tmp_path / "requests")
    assert counts["requests"] > 5
    assert counts["errors"] >= counts["requests"] - 1  # each answer's close, seen when the next is read


def test_outside_slowed_leaves_out_the_requests_that_met_a_slowed_moment() -> None:
    outside = _bench().outside_slowed
    ms = 1_000_000
    requests = [(0, 1 * ms), (2 * ms, 1 * ms), (10 * ms, 1 * ms), (20 * ms, 5 * ms), (40 * ms, 1 * ms)]
    # One slowed unit at 11.5 to 11.6 ms, widened by 1 ms: 10.5 to 12.6 ms meets the request sent at 10 ms.
    assert outside(requests, [(int(11.5 * ms), int(11.6 * ms))], 1 * ms) == [ms, ms, 5 * ms, ms]
    # Widening reaches back: a unit at 26 to 27 ms widened by 2 ms starts at 24 ms, inside 20 to 25 ms.
    assert outside(requests, [(26 * ms, 27 * ms)], 2 * ms) == [ms, ms, ms, ms]
    # Spans that touch merge; a request between spans stays.
    assert outside(requests, [(0, ms), (ms, int(1.5 * ms)), (30 * ms, 31 * ms)], 0) == [ms, ms, 5 * ms, ms]
    assert outside(requests, [], 2 * ms) == [took for _, took in requests]


def test_as_wrk_counts_adds_the_requests_a_long_one_held_back_as_wrk_does() -> None:
    as_wrk = _bench().as_wrk_counts
    # wrk's stats_correct with an interval of 2: 5 also counts as 3; 10 as 8, 6 and 4; 1 and 4 as nothing.
    assert sorted(as_wrk([1, 5, 10], 2)) == [1, 3, 4, 5, 6, 8, 10]
    assert as_wrk([4], 2) == [4]
    assert as_wrk([], 2) == []
    # So a p99 over 1,000 steady requests of 1 ms and 5 stalls of 20 ms: 1 ms as measured, far more as
    # wrk counts (each stall also counts as 18 requests of 19 down to 2 ms).
    ms = 1_000_000
    taken = [ms] * 1000 + [20 * ms] * 5
    spread, counted = _bench().Spread.of(taken), _bench().Spread.of(as_wrk(taken, ms))
    assert (spread.p50_ms, spread.p99_ms) == (1.0, 1.0)
    assert counted.p50_ms == 1.0 and counted.p99_ms >= 10.0
