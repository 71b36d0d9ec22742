"""Benchmark: database calls from inside a function, beside bare SQLite, and a one-get function under wrk.

In one run, in a universe of its own (tns, hoarder, seer, one substrate) with
`fixtures/projects/data-bench` deployed:
  sqlite     a bare SQLite get (SELECT by key) and put (INSERT OR REPLACE, autocommit) in this Python
             process, on a file in WAL mode with synchronous=NORMAL (as hoarder keeps databases), each
             timed with perf_counter_ns;
  wat, go    database gets (`databaseGetSize` + `databaseGet`, as the SDKs read a value) and puts of
             100 bytes from inside a WAT and a Go function, each call timed by the guest itself (WASI's
             monotonic clock, Go's time.Now), --calls per request, --requests requests;
  wrk        `GET /dbping` (a WAT function doing one database get per request and answering the value)
             beside `GET /ping` (PONG), wrk with 64 connections, --rounds rounds of --duration seconds;
  visible    how long after a put through one substrate returns the value is read through the other
             (asked again and again until it is), --trials times.
Prints p50/p99 in µs and calls/s (1 / mean) per target, and the ratios against the goals: a get from
inside a function at p50 ≤ 3x the bare SQLite get; /dbping ≥ 0.5x /ping in req/s (the median of the
rounds' ratios: each round runs both targets back to back).
Starts its own daemon (throw-away DREAM_HOME and DREAM_CACHE, free port) and stops all it started, even
on failure. Other load on the machine skews the figures: the load average is printed first.

Usage: .venv/bin/python bench/data.py [--calls 2000] [--requests 5] [--duration 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from dream.errors import DreamError
from dream.settings import CACHE_ENV
from dream.testing.harness import DaemonProcess, exit_on_sigterm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serving
from serving import Result, ensure_wrk, medians, run_wrk, warn_if_busy

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "fixtures" / "projects" / "data-bench"
HOST = "bench.data.com"
UNIVERSE = "benchdata"
SHAPE = {
    "Services": {"tns": {}, "hoarder": {}, "seer": {}, "substrate": {"Others": {"copies": 2}}},
    "Simples": {},
}
GET_GOAL = 3.0  # a get from inside a function: p50 at most this many times the bare SQLite get's
WRK_GOAL = 0.5  # /dbping req/s at least this fraction of /ping's


@dataclass
class Timing:
    name: str
    samples_ns: list[int]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples_ns) / 1000

    @property
    def p99(self) -> float:
        ordered = sorted(self.samples_ns)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000

    @property
    def per_second(self) -> float:
        return 1e9 / statistics.fmean(self.samples_ns)

    def line(self) -> str:
        return (
            f"{self.name:<12} p50 {self.p50:>9.1f} µs   p99 {self.p99:>9.1f} µs   "
            f"{self.per_second:>10,.0f} calls/s   ({len(self.samples_ns)} calls)"
        )


def bare_sqlite(path: Path, calls: int) -> tuple[Timing, Timing]:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID")
    value = b"x" * 100
    puts, gets = [], []
    for _ in range(calls):
        started = time.perf_counter_ns()
        db.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", ("k", value))
        puts.append(time.perf_counter_ns() - started)
    for _ in range(calls):
        started = time.perf_counter_ns()
        db.execute("SELECT value FROM kv WHERE key = ?", ("k",)).fetchone()
        gets.append(time.perf_counter_ns() - started)
    db.close()
    return Timing("sqlite get", gets), Timing("sqlite put", puts)


def from_inside(url: str, name: str, op: str, calls: int, requests: int) -> Timing:
    samples: list[int] = []
    with httpx.Client(headers={"host": HOST}, timeout=300) as client:
        client.get(url, params={"op": op, "n": 10})  # loads the module and the keyspace
        for _ in range(requests):
            response = client.get(url, params={"op": op, "n": calls})
            if response.status_code != 200 or len(response.content) != 4 * calls:
                raise DreamError(f"{url}?op={op} answered HTTP {response.status_code}: {response.text[:200]}")
            samples += struct.unpack(f"<{calls}I", response.content)
    return Timing(f"{name} {op}", samples)


def visible_after(put_url: str, get_url: str, trials: int) -> Timing:
    """Put through one substrate, then read through the other until the value is there: the time from
    the put's answer to the first read that has it (bounded by the read's own round trip)."""
    samples: list[int] = []
    with httpx.Client(headers={"host": HOST}, timeout=30) as client:
        for trial in range(trials):
            value = f"v{trial}-{time.time_ns()}".encode()
            params = {"db": "/bench", "op": "put", "k": "visible"}
            answer = client.post(put_url, params=params, content=value)
            if answer.text != "put:0":
                raise DreamError(f"the put answered {answer.status_code}: {answer.text[:200]}")
            written = time.perf_counter_ns()
            deadline = written + 10_000_000_000
            while client.post(get_url, params={**params, "op": "get"}).content != value:
                if time.perf_counter_ns() > deadline:
                    raise DreamError("a put was not read through the other substrate within 10 s")
            samples.append(time.perf_counter_ns() - written)
    return Timing("visible", samples)


# The options: flag, default (its type is the option's), what it sets.
OPTIONS: list[tuple[str, float, str]] = [
    ("--calls", 2000, "timed calls per request"),
    ("--requests", 5, "requests per function and op"),
    ("--duration", 5.0, "seconds of wrk per target and round"),
    ("--rounds", 3, "wrk rounds over the two targets"),
    ("--connections", 64, "wrk connections"),
    ("--trials", 50, "puts timed until read elsewhere"),
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for flag, default, meaning in OPTIONS:
        parser.add_argument(
            flag, type=type(default), default=default, help=f"{meaning} (default {default:g})"
        )
    args = parser.parse_args()
    exit_on_sigterm()
    serving.HOST = HOST  # the Host header serving.run_wrk sends
    wrk = ensure_wrk()
    warn_if_busy()
    timings: list[Timing] = []
    rounds: list[list[Result]] = []
    with tempfile.TemporaryDirectory(prefix="dream-bench-data-") as tmp:
        os.environ[CACHE_ENV] = str(Path(tmp) / "cache")
        daemon = DaemonProcess(Path(tmp) / "home")
        try:
            daemon.start()
            with daemon.client() as client:
                client.new_universe(UNIVERSE, SHAPE)
                client.fixture(UNIVERSE, "buildLocalProject", ["", "", str(PROJECT), ""])
                substrates = sorted(
                    n["value"]["http"] for n in client.nodes(UNIVERSE) if n["name"].startswith("substrate@")
                )
                base, other = (f"http://127.0.0.1:{port}" for port in substrates)
            sqlite_get, sqlite_put = bare_sqlite(Path(tmp) / "bare.sqlite", args.calls * args.requests)
            timings += [sqlite_get, sqlite_put]
            for name, path in (("wat", "dbtime"), ("go", "godbtime")):
                for op in ("get", "put"):
                    calls = args.calls if op == "get" else max(1, args.calls // 10)  # puts wait for hoarder
                    timings.append(from_inside(f"{base}/{path}", name, op, calls, args.requests))
            client_put, client_get = f"{base}/kv", f"{other}/kv"
            httpx.post(
                client_get, params={"db": "/bench", "op": "get", "k": "visible"}, headers={"host": HOST}
            )
            timings.append(visible_after(client_put, client_get, args.trials))
            for timing in timings:
                print(timing.line(), flush=True)
            targets = [("ping", f"{base}/ping"), ("dbping", f"{base}/dbping")]
            with httpx.Client(headers={"host": HOST}) as check:
                for _, url in targets:
                    answer = check.get(url)
                    if answer.text != "PONG":
                        raise DreamError(f"{url} answered {answer.status_code} {answer.text[:200]}")
            for name, url in targets:  # warm-up, unrecorded
                run_wrk(wrk, name, url, duration=1, connections=args.connections)
            for index in range(args.rounds):
                print(f"wrk round {index + 1} of {args.rounds}", flush=True)
                runs = []
                for name, url in targets:
                    result = run_wrk(wrk, name, url, duration=args.duration, connections=args.connections)
                    print(
                        f"  {name}: {result.rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms"
                    )
                    runs.append(result)
                rounds.append(runs)
        except DreamError as exc:
            raise SystemExit(f"benchmark failed: {exc}") from None
        finally:
            daemon.stop()
    print()
    by = {t.name: t for t in timings}
    seen = by["visible"]
    verdict = "met" if seen.p99 <= 100_000 else "MISSED"
    print(
        f"a put read through the other substrate after p50 {seen.p50 / 1000:.1f} ms, p99 {seen.p99 / 1000:.1f} ms (goal ≤ 100 ms: {verdict})"
    )
    for name in ("wat get", "go get"):
        ratio = by[name].p50 / by["sqlite get"].p50
        verdict = "met" if ratio <= GET_GOAL else "MISSED"
        print(f"{name} p50 / sqlite get p50: {ratio:.2f} (goal ≤ {GET_GOAL}: {verdict})")
    ping, dbping = medians(rounds)
    print(f"median rounds: dbping {dbping.rps:,.0f} req/s, ping {ping.rps:,.0f} req/s")
    # Each round's targets ran back to back: their ratio is the fair one on a machine whose speed drifts.
    ratios = [db.rps / pong.rps for pong, db in rounds]
    ratio = statistics.median(ratios)
    verdict = "met" if ratio >= WRK_GOAL else "MISSED"
    shown = ", ".join(f"{r:.2f}" for r in ratios)
    print(f"dbping / ping req/s per round: {shown}; median {ratio:.2f} (goal ≥ {WRK_GOAL}: {verdict})")


if __name__ == "__main__":
    main()
