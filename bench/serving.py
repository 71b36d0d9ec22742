"""Benchmark: requests per second and latency of a WAT `ping` function, bare, on the substrate, via the gateway,
and on the substrate while slow calls keep it busy.

In one run, on loopback, with wrk (64 connections, `--latency`), in 3 rounds of 5 s per target, against:
  floor      the fastest PONG Python serves here: a raw uvloop + httptools protocol (a parser and one
             write per read; no framework, no routing), started here in a subprocess;
  bare       a starlette app answering PONG on uvicorn with the settings nodes' uvicorn servers use
             (httptools, uvloop, one process, no access log), started here in a subprocess;
  substrate  the sample project's WAT `ping` on the only substrate of a universe of its own (the request
             inspector on, as by default);
  inspected, uninspected  the same on two more daemons' universes of one substrate each, alike but for
             the inspector: on, and off (`DREAM_INSPECT=0`); inspected/uninspected is the inspector's
             cost (goal: ≥ 0.95). Neither serves the gateway or the slow calls, which would set them apart;
  gateway    the same request through that universe's gateway (so it always reaches that substrate);
  relay-floor  the same request through the least a relay process can be (bench/relay_floor.c, built
             here with the system C compiler): one epoll thread copying bytes between each client and a
             connection of its own to the substrate, over the same Unix socket the gateway uses, with no
             parsing, routing or records. relay-floor/substrate is what any process in between allows on
             this machine; gateway/relay-floor is the share of that the gateway keeps;
  busy       `ping` on the substrate while 16 calls of the sample's infinite loop (`/spin`, 1 s timeout)
             are in flight all along (16 client threads, each asking again as soon as it is answered).
Prints each run, then per target the median round (req/s, p50, p99, the answering process's CPU per
request, and the milliseconds per second the substrate's event loop behind it was runnable without a core,
from the kernel's schedstat, and `host slowed`: the share of the run in which the host ran a fixed unit of
work 3 or more times slower, seen by bench/host_probe.c beside every run) and the ratios substrate/floor
(goal: ≥ 0.3), gateway/substrate (goal: ≥ 0.7), substrate/bare (goal: ≥ 0.6), busy/substrate (goal:
≥ 0.5) and inspected/uninspected (goal: ≥ 0.95), and p99/p50 of the substrate and the gateway (goal: ≤ 3).
Starts its own daemon (throw-away DREAM_HOME and DREAM_CACHE, free port) and stops all it started, even
on failure. Other load on the machine skews the figures: the load average is printed first. So does a host
that runs this virtual machine slower at times: the probe (built here with the system C compiler, ~1.5 %
of a core) times its unit on its thread's CPU clock, which a slower host stretches and the guest's own
scheduling does not, and the tail lines say what it saw during each run.

Then, in rounds of their own, the tail client (bench/tail_client.c, built here: a closed loop like
`wrk -t1 -c64` that keeps each request's send time and duration) loads the floor, the substrate, the
gateway and the relay floor with the probe beside it, and prints p99/p50 over every request and over the
requests that met no moment the probe saw the host slowed (each slowed unit widened by the probe's gap),
each as measured and as wrk counts it: wrk corrects its latency figures for coordinated omission (a
request that took many times a connection's mean also counts as the requests it held back), which turns
each of the host's slow moments into many slow requests. The tail goal's verdict is on the requests
outside those moments, as wrk counts them: what this machine's host leaves to the code.

With `--compare-path raw` (or object, plain) a third daemon's substrate calls wasm on that path, in the
same rounds, and substrate/substrate-raw is printed: the default (native) path against it. With
`--compare-parser` another's nodes parse every request head with httptools (`DREAM_HTTP_PARSER=python`):
substrate/substrate-pyparse is the C head parser against that. With `--compare-relay` another's gateway
relays every request in Python (`DREAM_GATEWAY_RELAY=python`): gateway/gateway-pyrelay is the C relay
against that, in req/s and in the gateway's own CPU per request. With `--compare-upstream` another's
gateway reaches its substrate on loopback TCP rather than its Unix socket (`DREAM_GATEWAY_UPSTREAM=tcp`):
gateway/gateway-tcphop is the Unix socket hop against that. With `--compare-nice` another's gateway keeps
its CPU priority (`DREAM_GATEWAY_NICE=0`; by default it gives way to the substrate at niceness 5):
gateway-nice0/substrate-nice0 is printed beside gateway/substrate.

Usage: .venv/bin/python bench/serving.py [--duration 5] [--rounds 3] [--connections 64] [--compare-path raw]
       [--compare-parser] [--compare-relay] [--compare-upstream] [--compare-nice]
"""

from __future__ import annotations

import argparse
import bisect
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

import httpx

from dream.daemon.ports import free_port
from dream.errors import DreamError
from dream.gateway import priority
from dream.gateway.relay import ENV as RELAY_ENV
from dream.gateway.upstreams import ENV as UPSTREAM_ENV
from dream.http.headparse import ENV as PARSER_ENV
from dream.http.records import ENV as INSPECT_ENV
from dream.settings import CACHE_ENV
from dream.testing.harness import DaemonProcess, exit_on_sigterm
from dream.wasm.callpath import ENV as CALL_ENV

ROOT = Path(__file__).resolve().parents[1]
RELAY_FLOOR_SOURCE = Path(__file__).with_name("relay_floor.c")
HOST_PROBE_SOURCE = Path(__file__).with_name("host_probe.c")
TAIL_CLIENT_SOURCE = Path(__file__).with_name("tail_client.c")
HELLO = ROOT / "fixtures" / "projects" / "hello"
HOST = "hello.computers.com"
UNIVERSE = "benchserving"
# One substrate, so gateway and substrate figures describe the same path.
SHAPE = {
    "Services": {"tns": {}, "hoarder": {}, "seer": {}, "gateway": {}, "substrate": {}},
    "Simples": {},
}
# (target, compared with, goal)
RATIOS = (
    ("substrate", "floor", 0.3),
    ("gateway", "substrate", 0.7),
    ("substrate", "bare", 0.6),
    ("busy", "substrate", 0.5),
    ("inspected", "uninspected", 0.95),  # the request inspector's cost: at most 5 % fewer req/s
)
TAIL_GOAL = 3.0  # p99 at most 3 times p50 under 64 connections
SLOW_CALLS = 16  # calls of the infinite loop in flight during the `busy` target
PROBE_GAP_US = 2000  # the host probe's pause between units (its default)
TAIL_TARGETS = ("floor", "substrate", "gateway", "relay-floor")  # what the tail client measures


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: str
    cpu_us: float = 0.0  # CPU of the process that answers, per request (0: not measured)
    # Milliseconds per second the substrate's event loop was runnable without a core (-1: not measured).
    waited_ms: float = -1.0
    host: HostReading | None = None  # the host probe's reading over the run (None: not measured)


# -- the bare app (runs in a subprocess: `serving.py --bare PORT`) ------------------------------------


def serve_bare(port: int) -> None:
    """PONG from starlette, with the uvicorn settings of `dream.node.runtime.Node.run` and uvloop."""
    import uvloop
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from dream.node.runtime import Server, bind_tcp, server_config

    async def ping(request: Request) -> PlainTextResponse:
        return PlainTextResponse("PONG")

    config = server_config(Starlette(routes=[Route("/ping", ping, methods=["GET"])]))
    sock = bind_tcp(port)
    uvloop.run(Server(config).serve(sockets=[sock]))


def serve_floor(port: int) -> None:
    """PONG from a bare asyncio protocol on uvloop with httptools' parser: what any Python HTTP server
    pays at least (parse, one write per read), so the substrate's figure has a floor to be compared with."""
    import asyncio

    import httptools
    import uvloop

    from dream.node.runtime import bind_tcp

    answer = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 4\r\n\r\nPONG"

    class Floor(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = cast(asyncio.Transport, transport)  # uvloop's, not a subclass of asyncio's
            self.parser = httptools.HttpRequestParser(self)
            self.answers = 0

        def on_message_complete(self) -> None:
            self.answers += 1  # pipelined requests in one read get one write

        def data_received(self, data: bytes) -> None:
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                self.transport.write(answer * self.answers)  # the requests before the bad one, in order
                self.transport.close()
                return
            if self.answers:
                self.transport.write(answer * self.answers)
                self.answers = 0

    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(Floor, sock=bind_tcp(port))
        await server.serve_forever()

    uvloop.run(serve())


# -- the C programs beside this file: the relay floor, the host probe and the tail client -------------


def build_c(source: Path, into: Path, what: str) -> Path | None:
    """`source` built with the system C compiler (the one scripts/install builds dream's extensions
    with); None, with the reason printed, when it cannot be (`what` is left out of the run)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        print(f"no C compiler (cc): {what} is left out", flush=True)
        return None
    binary = into / source.stem
    out = subprocess.run([compiler, "-O2", "-o", str(binary), str(source)], capture_output=True, text=True)
    if out.returncode != 0:
        print(f"cannot build {source.name}: {what} is left out\n{out.stderr}", flush=True)
        return None
    return binary


def build_relay_floor(into: Path) -> Path | None:
    """bench/relay_floor.c, built (None when it cannot be)."""
    return build_c(RELAY_FLOOR_SOURCE, into, "the relay floor")


def build_host_probe(into: Path) -> Path | None:
    """bench/host_probe.c, built (None when it cannot be)."""
    return build_c(HOST_PROBE_SOURCE, into, "the host probe")


def build_tail_client(into: Path) -> Path | None:
    """bench/tail_client.c, built (None when it cannot be)."""
    return build_c(TAIL_CLIENT_SOURCE, into, "the tail client")


@dataclass
class HostReading:
    """What bench/host_probe.c saw during one run: its samples, its fastest unit, and the share of the
    samples the host ran at least 3 times slower than that (`slowed`) or the guest's scheduler held off
    a core (`preempted`), in percent; `steal` is the hypervisor's own steal time over the run, in
    percent of the machine's time (0 where the hypervisor reports none)."""

    samples: int
    base_us: float  # the fastest unit's CPU time
    slowed: float
    preempted: float
    worst: float
    steal: float


def _steal_ticks() -> tuple[int, int]:
    """(steal, all) clock ticks of the whole machine so far, from /proc/stat ((0, 0) without it)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return 0, 0
    return (fields[7] if len(fields) > 7 else 0), sum(fields)


@contextmanager
def host_probe(
    binary: Path | None, seconds: float, gap_us: int | None = None, slowed_out: Path | None = None
) -> Iterator[list[HostReading]]:
    """bench/host_probe.c running beside the block for `seconds` (a unit every `gap_us`, its default
    when None; each slowed unit's span written to `slowed_out`); the yielded list gets its reading when
    the block ends (it stays empty without the probe, or when its output cannot be read)."""
    readings: list[HostReading] = []
    if binary is None:
        yield readings
        return
    steal_before, all_before = _steal_ticks()
    probe = subprocess.Popen(
        [
            str(binary),
            f"{seconds:g}",
            str(PROBE_GAP_US if gap_us is None else gap_us),
            *([] if slowed_out is None else [str(slowed_out)]),
        ],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield readings
        out, _ = probe.communicate(timeout=seconds + 30)
    finally:
        if probe.poll() is None:
            probe.kill()
            probe.wait()
    steal_after, all_after = _steal_ticks()
    values = dict(part.split("=", 1) for part in out.split() if "=" in part)
    try:
        samples = int(values["samples"])
        share = 100.0 / max(1, samples)
        readings.append(
            HostReading(
                samples,
                float(values["base_us"]),
                int(values["slowed"]) * share,
                int(values["preempted"]) * share,
                float(values["worst"]),
                100.0 * (steal_after - steal_before) / max(1, all_after - all_before),
            )
        )
    except (KeyError, ValueError):
        print(f"cannot read the host probe's output: {out!r}", flush=True)


def http_socket_of(pid: int) -> str | None:
    """The Unix socket process `pid` listens on for HTTP (a substrate's `http.sock`), or None: the
    listening sockets of /proc/net/unix whose inode is one of the process's open files."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        # Num RefCount Protocol Flags Type St Inode Path; flags 00010000: listening
        if (
            len(fields) == 8
            and fields[3] == "00010000"
            and fields[6] in inodes
            and fields[7].endswith(".sock")
        ):
            return fields[7]
    return None


@dataclass
class Spread:
    """p50 and p99 of a set of requests, in milliseconds."""

    p50_ms: float
    p99_ms: float

    @classmethod
    def of(cls, durations: list[int]) -> Spread:
        ordered = sorted(durations)
        return cls(_percentile(ordered, 0.5), _percentile(ordered, 0.99))

    @property
    def ratio(self) -> float:
        return self.p99_ms / self.p50_ms if self.p50_ms else float("inf")


@dataclass
class Tail:
    """One tail client run: the spread of every request and of the requests outside the moments the
    host probe saw the host run slowed (`kept`: their share, in percent), each as measured and as wrk
    counts it (`as_wrk`: with its correction for coordinated omission)."""

    name: str
    requests: int
    every: Spread
    every_as_wrk: Spread
    kept: float
    outside: Spread
    outside_as_wrk: Spread


def _int64_pairs(path: Path) -> list[tuple[int, int]]:
    values = array("q")
    values.frombytes(path.read_bytes())
    return list(zip(values[0::2], values[1::2], strict=True))


def _percentile(ordered: list[int], share: float) -> float:
    """The value `share` of the way up `ordered` (nanoseconds), in milliseconds (0 when empty)."""
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] / 1e6 if ordered else 0.0


def outside_slowed(requests: list[tuple[int, int]], slowed: list[tuple[int, int]], pad_ns: int) -> list[int]:
    """The durations of the `requests` ((sent, took) in ns) that overlap no `slowed` span (start, end),
    each span widened by `pad_ns` on both sides: the probe looks once per gap, so a slowed moment may
    have begun or lasted up to a gap beyond the units that saw it."""
    spans: list[list[int]] = []
    for start, end in sorted((start - pad_ns, end + pad_ns) for start, end in slowed):
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    starts = [span[0] for span in spans]
    kept = []
    for sent, took in requests:
        index = bisect.bisect_right(starts, sent + took) - 1
        if index < 0 or spans[index][1] < sent:
            kept.append(took)
    return kept


def as_wrk_counts(durations: list[int], interval: int) -> list[int]:
    """`durations` with wrk's correction for coordinated omission (its `stats_correct`, applied to every
    `--latency` figure it prints): a request that took n, at least twice `interval`, also counts as
    requests of n - interval, n - 2 * interval, ... down to above `interval`, the ones a client sending every
    `interval` would have waited for meanwhile. wrk's interval is the run's time over the requests per
    connection."""
    out = list(durations)
    for took in durations:
        out.extend(range(took - interval, interval, -interval))
    return out


def run_tail(
    client: Path, probe: Path, name: str, url: str, args: argparse.Namespace, into: Path
) -> Tail | None:
    """The tail client on `url` for the run's duration, the host probe beside it; None (said) when the
    client fails."""
    port = url.split(":")[-1].split("/")[0]
    records, slowed = into / f"{name}.requests", into / f"{name}.slowed"
    seconds = max(1, round(args.duration))
    with host_probe(probe, seconds, slowed_out=slowed):
        out = subprocess.run(
            [str(client), port, str(args.connections), str(seconds), HOST, "/ping", str(records)],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
    if out.returncode != 0 or not records.exists() or not slowed.exists():
        print(f"the tail client failed on {name}: {out.stdout}{out.stderr}", flush=True)
        return None
    requests = _int64_pairs(records)
    every = [took for _, took in requests]
    kept = outside_slowed(requests, _int64_pairs(slowed), PROBE_GAP_US * 1000)
    interval = max(1, seconds * 1_000_000_000 * args.connections // max(1, len(every)))
    tail = Tail(
        name,
        len(every),
        Spread.of(every),
        Spread.of(as_wrk_counts(every, interval)),
        100.0 * len(kept) / max(1, len(every)),
        Spread.of(kept),
        Spread.of(as_wrk_counts(kept, interval)),
    )
    print(
        f"tail {name}: {tail.requests:,} requests, p50 {tail.every.p50_ms:.2f} ms, p99 {tail.every.p99_ms:.2f}"
        f" ms ({tail.every.ratio:.1f}; as wrk counts {tail.every_as_wrk.ratio:.1f}); outside the host's"
        f" slowed moments ({tail.kept:.1f} % of them): p50 {tail.outside.p50_ms:.2f} ms, p99"
        f" {tail.outside.p99_ms:.2f} ms ({tail.outside.ratio:.1f}; as wrk counts {tail.outside_as_wrk.ratio:.1f})",
        flush=True,
    )
    return tail


def print_tails(tails: list[Tail]) -> None:
    """Per target, the median run by p99/p50 outside the host's slowed moments as wrk counts it, beside
    its other figures; the goal's verdict for the substrate and the gateway, on that figure."""
    if not tails:
        return
    print()
    for name in TAIL_TARGETS:
        runs = sorted(
            (tail for tail in tails if tail.name == name), key=lambda tail: tail.outside_as_wrk.ratio
        )
        if not runs:
            continue
        middle = runs[len(runs) // 2]
        line = (
            f"tail client, {name} p99/p50: over every request {middle.every.ratio:.1f} (as wrk counts"
            f" {middle.every_as_wrk.ratio:.1f}); outside the host's slowed moments ({middle.kept:.1f} % of"
            f" the requests) {middle.outside.ratio:.1f} (as wrk counts {middle.outside_as_wrk.ratio:.1f})"
        )
        if name in ("substrate", "gateway"):
            verdict = "met" if middle.outside_as_wrk.ratio <= TAIL_GOAL else "MISSED"
            line += f" (goal ≤ {TAIL_GOAL:.0f}: {verdict})"
        print(line)


# -- helpers ------------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit("wrk is not installed: install it with `sudo apt-get install -y wrk`, then rerun")
    print("wrk is not installed; installing it with `apt-get install -y wrk` ...", flush=True)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.STDOUT}
    if subprocess.run(["apt-get", "install", "-y", "wrk"], **quiet).returncode != 0:
        subprocess.run(["apt-get", "update"], **quiet)
        subprocess.run(["apt-get", "install", "-y", "wrk"], **quiet)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("`apt-get install -y wrk` did not install wrk; install it by hand, then rerun")
    return found


def warn_if_busy() -> None:
    """Print the cores and the load averages (1, 5, 15 minutes, as `uptime`); warn when others use the CPU."""
    loads, cores = os.getloadavg(), os.cpu_count() or 1
    print(f"{cores} cores, load average {', '.join(f'{x:.2f}' for x in loads)}", flush=True)
    if loads[0] > 0.5 * cores:
        print("warning: other processes are using the CPU; these figures will be low and noisy", flush=True)


def wait_for_pong(url: str, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(headers={"host": HOST}, timeout=5) as client:
        while time.monotonic() < deadline:
            try:
                response = client.get(url)
                if response.status_code == 200 and response.text == "PONG":
                    return
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = str(exc) or type(exc).__name__
            time.sleep(0.05)
    raise DreamError(f"{what} at {url} did not answer PONG within {timeout:.0f}s (last: {last})")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def run_wrk(wrk: str, name: str, url: str, *, duration: float, connections: int) -> Result:
    # wrk takes whole seconds only.
    command = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "--latency",
    ]
    command += ["-H", f"Host: {HOST}", url]
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    if out.returncode != 0:
        raise DreamError(f"wrk failed on {name} ({' '.join(command)}):\n{out.stdout}{out.stderr}")
    text = out.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    if not (rps and p50 and p99):
        raise DreamError(f"cannot read wrk's report for {name}:\n{text}")
    errors = ", ".join(
        m.group(0).strip()
        for m in re.finditer(r"^\s*(Non-2xx or 3xx responses: \d+|Socket errors: .*)$", text, re.M)
    )
    return Result(name, float(rps.group(1)), _ms(p50.group(1)), _ms(p99.group(1)), errors)


def warm_up(wrk: str, name: str, url: str, args: argparse.Namespace) -> None:
    """A short unrecorded run: loads the module, fills connection pools and route caches."""
    run_wrk(wrk, name, url, duration=min(2.0, max(args.duration / 5, 1.0)), connections=args.connections)


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of process `pid` so far (0 without one)."""
    if not pid:
        return 0.0
    import psutil  # a test extra: only the bench needs it

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def waited_ns(pid: int | None) -> int | None:
    """Nanoseconds the main thread of `pid` has so far been runnable without a core (the kernel's
    schedstat), or None where the kernel does not say."""
    if not pid:
        return None
    try:
        return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None


def measure(
    wrk: str,
    name: str,
    url: str,
    args: argparse.Namespace,
    pid: int | None = None,
    substrate: int | None = None,
) -> Result:
    """One wrk run; with `pid`, also that process's CPU per request (steadier than req/s when the
    machine is shared: time others take is not counted); with `substrate`, the time that substrate's
    event loop waited for a core meanwhile (through the gateway it waits while a core is idle)."""
    before, waited_before = cpu_seconds(pid), waited_ns(substrate)
    started = time.monotonic()
    with host_probe(getattr(args, "host_probe", None), max(1, round(args.duration))) as host:
        result = run_wrk(wrk, name, url, duration=args.duration, connections=args.connections)
    elapsed = time.monotonic() - started
    result.host = host[0] if host else None
    if pid and result.rps:
        result.cpu_us = (cpu_seconds(pid) - before) / (result.rps * max(1, round(args.duration))) * 1e6
    waited_after = waited_ns(substrate)
    if waited_before is not None and waited_after is not None:
        result.waited_ms = (waited_after - waited_before) / 1e6 / elapsed
    cpu = f", {result.cpu_us:.1f} µs CPU per request" if result.cpu_us else ""
    waited = f", substrate waited for a core {result.waited_ms:.0f} ms/s" if result.waited_ms >= 0 else ""
    slowed = f", host slowed {result.host.slowed:.1f} %" if result.host else ""
    print(
        f"{name}: {result.rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms{cpu}{waited}"
        f"{slowed}",
        flush=True,
    )
    return result


def medians(rounds: list[list[Result]]) -> list[Result]:
    """Per target, the round with the median req/s (its latencies and host reading come with it), with
    the median CPU per request and core wait over the rounds."""
    out = []
    for runs in zip(*rounds, strict=True):
        ordered = sorted(runs, key=lambda r: r.rps)
        middle = ordered[len(ordered) // 2]
        cpus = sorted(r.cpu_us for r in runs)
        waits = sorted(r.waited_ms for r in runs)
        out.append(replace(middle, cpu_us=cpus[len(cpus) // 2], waited_ms=waits[len(waits) // 2]))
    return out


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def start_with(daemon: DaemonProcess, env: dict[str, str]) -> None:
    """Start `daemon` with `env` added to this process's environment (its nodes inherit it)."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        daemon.start()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def print_table(results: list[Result]) -> None:
    by = {r.name: r for r in results}
    print()
    header = (
        f"{'target':<17} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'µs CPU/req':>10} {'sub. wait':>9}"
        f" {'host slowed':>11}"
    )
    print(f"{header}  errors")
    for r in results:
        cpu = f"{r.cpu_us:.1f}" if r.cpu_us else "-"
        wait = f"{r.waited_ms:.0f}" if r.waited_ms >= 0 else "-"
        slowed = f"{r.host.slowed:.1f} %" if r.host else "-"
        row = (
            f"{r.name:<17} {r.rps:>10,.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {cpu:>10} {wait:>9} {slowed:>11}"
        )
        print(f"{row}  {r.errors or '-'}")
    print()
    for top, bottom, goal in RATIOS:
        ratio = by[top].rps / by[bottom].rps
        verdict = "met" if ratio >= goal else "MISSED"
        # Two daemons' substrates, identical but for the inspector, differ by up to ±10 % from run to run:
        # the inspector's own cost is measured within one process by bench/inspector.py --switch.
        within = "; within one process: bench/inspector.py --switch" if top == "inspected" else ""
        print(
            f"{top}/{bottom}: {ratio:.3f} (goal ≥ {goal}: {verdict}{within})"
        )  # 3 places: 0.698 is not 0.70
    for name in by:
        if name.startswith("substrate-"):  # --compare-path: the default path against that one
            print(f"substrate/{name}: {by['substrate'].rps / by[name].rps:.2f}")
    for other in ("gateway-pyparse", "gateway-pyrelay", "gateway-tcphop"):
        if other in by:
            print(f"gateway/{other}: {by['gateway'].rps / by[other].rps:.2f}")
    for other in ("pyrelay", "tcphop", "nice0"):  # that gateway's own ratio, in the same rounds
        if f"gateway-{other}" in by:
            ratio = by[f"gateway-{other}"].rps / by[f"substrate-{other}"].rps
            print(f"gateway-{other}/substrate-{other}: {ratio:.2f}")
    if "relay-floor" in by:
        # What any process between client and substrate allows here, and the gateway's share of it.
        print(f"relay-floor/substrate: {by['relay-floor'].rps / by['substrate'].rps:.2f}")
        print(f"gateway/relay-floor: {by['gateway'].rps / by['relay-floor'].rps:.2f}")
    for top, bottom in (
        ("substrate", "floor"),
        ("gateway", "relay-floor"),
        ("inspected", "uninspected"),
        ("substrate", "substrate-pyparse"),
        ("gateway", "gateway-pyparse"),
        ("gateway", "gateway-pyrelay"),
        ("gateway", "gateway-tcphop"),
    ):
        if top not in by or bottom not in by:
            continue
        if by[top].cpu_us and by[bottom].cpu_us:
            print(f"CPU per request {top}/{bottom}: {by[top].cpu_us / by[bottom].cpu_us:.2f}")
    if by["substrate"].waited_ms >= 0 and by["gateway"].waited_ms >= 0:
        through = (
            f", through the relay floor {by['relay-floor'].waited_ms:.0f}" if "relay-floor" in by else ""
        )
        print(
            f"the substrate's loop waited for a core (ms per s): called directly {by['substrate'].waited_ms:.0f},"
            f" through the gateway {by['gateway'].waited_ms:.0f}{through}"
        )
    for r in results:
        if r.name not in ("substrate", "gateway", "floor", "relay-floor"):
            continue
        tail = r.p99_ms / r.p50_ms if r.p50_ms else float("inf")
        host = tail_host(r)
        if r.name in ("floor", "relay-floor"):  # references: the same machine's tail with no dream code
            print(f"{r.name} p99/p50: {tail:.1f}{host}")
            continue
        verdict = "met" if tail <= TAIL_GOAL else "MISSED"
        print(f"{r.name} p99/p50: {tail:.1f} (goal ≤ {TAIL_GOAL:.0f}: {verdict}){host}")
    steal = [r.host.steal for r in results if r.host]
    if steal and max(steal) > 0:
        print(f"the hypervisor reported steal time: up to {max(steal):.1f} % of the machine's time in a run")


def tail_host(result: Result) -> str:
    """What the host probe saw during `result`'s run, as a tail line's ending ("" without a reading). A
    request served while its core runs 3 times slower takes 3 times as long, whatever serves it."""
    if result.host is None:
        return ""
    return (
        f"; meanwhile the host ran fixed work 3 or more times slower {result.host.slowed:.1f} % of the"
        f" time (worst {result.host.worst:.0f} times)"
    )


@contextmanager
def slow_calls(url: str, count: int) -> Iterator[list[int]]:
    """`count` calls of `url` in flight until the block ends: each thread asks again once answered (the
    yielded list counts the answers per status, as [504s, other])."""
    stop = threading.Event()
    answers = [0, 0]

    def keep_calling() -> None:
        with httpx.Client(headers={"host": HOST}, timeout=120) as client:
            while not stop.is_set():
                try:
                    status = client.get(url).status_code
                except httpx.HTTPError:
                    status = 0
                answers[0 if status == 504 else 1] += 1

    threads = [threading.Thread(target=keep_calling, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)  # every thread has its call in (a second's timeout: they are all still running)
        yield answers
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)


def measure_busy(wrk: str, url: str, spin: str, args: argparse.Namespace) -> Result:
    with slow_calls(spin, SLOW_CALLS) as answers:
        result = measure(wrk, "busy", url, args)
    print(
        f"  (meanwhile /spin was answered 504 {answers[0]} times, otherwise {answers[1]} times)", flush=True
    )
    return result


# -- main ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--duration", type=float, default=5.0, help="seconds of load per target and round (default 5)"
    )
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the three targets (default 3)")
    parser.add_argument(
        "--compare-path",
        choices=("raw", "object", "plain"),
        help="also serve from a substrate forced onto this wasm call path (DREAM_WASM_CALL), in the same rounds",
    )
    parser.add_argument(
        "--compare-parser",
        action="store_true",
        help=f"also serve from a substrate parsing every request head with httptools ({PARSER_ENV}=python)",
    )
    parser.add_argument(
        "--compare-relay",
        action="store_true",
        help=f"also serve through a gateway relaying every request in Python ({RELAY_ENV}=python)",
    )
    parser.add_argument(
        "--compare-upstream",
        action="store_true",
        help=f"also serve through a gateway reaching its substrate on loopback TCP ({UPSTREAM_ENV}=tcp)",
    )
    parser.add_argument(
        "--compare-nice",
        action="store_true",
        help=f"also serve through a gateway that keeps its CPU priority ({priority.ENV}=0)",
    )
    parser.add_argument("--bare", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the subprocess modes
    parser.add_argument("--floor", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        serve_bare(args.bare)
        return
    if args.floor:
        serve_floor(args.floor)
        return
    exit_on_sigterm()
    wrk = ensure_wrk()
    warn_if_busy()
    rounds: list[list[Result]] = []
    tails: list[Tail] = []
    # Substrates of daemons of their own, beside the main one: (target, environment of their nodes).
    others = [("inspected", {INSPECT_ENV: "1"}), ("uninspected", {INSPECT_ENV: "0"})]
    if args.compare_path:
        others.append((f"substrate-{args.compare_path}", {INSPECT_ENV: "1", CALL_ENV: args.compare_path}))
    if args.compare_parser:
        others.append(("substrate-pyparse", {INSPECT_ENV: "1", PARSER_ENV: "python"}))
    if args.compare_relay:
        others.append(("substrate-pyrelay", {INSPECT_ENV: "1", RELAY_ENV: "python"}))
    if args.compare_upstream:
        others.append(("substrate-tcphop", {INSPECT_ENV: "1", UPSTREAM_ENV: "tcp"}))
    if args.compare_nice:
        others.append(("substrate-nice0", {INSPECT_ENV: "1", priority.ENV: "0"}))
    with tempfile.TemporaryDirectory(prefix="dream-bench-serving-") as tmp:
        os.environ[CACHE_ENV] = str(Path(tmp) / "cache")  # builds and compiled modules go with the temp dir
        daemon = DaemonProcess(Path(tmp) / "home")
        daemons = [daemon] + [DaemonProcess(Path(tmp) / f"home-{name}") for name, _ in others]
        servers: list[subprocess.Popen[bytes]] = []
        try:
            ports = {"bare": free_port(), "floor": free_port()}
            pids: dict[str, int] = {}
            for mode, port in ports.items():
                servers.append(
                    subprocess.Popen(
                        [sys.executable, __file__, f"--{mode}", str(port)],
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
                pids[mode] = servers[-1].pid
            start_with(daemon, {INSPECT_ENV: "1"})
            with daemon.client() as client:
                client.new_universe(UNIVERSE, SHAPE)
                client.fixture(UNIVERSE, "buildLocalProject", ["", "", str(HELLO), ""])
                substrate = f"http://127.0.0.1:{client.port(UNIVERSE, 'substrate')}/ping"
                gateway = f"http://127.0.0.1:{client.port(UNIVERSE, 'gateway')}/ping"
                spin = f"http://127.0.0.1:{client.port(UNIVERSE, 'substrate')}/spin"
                pids["substrate"] = int(client.node(UNIVERSE, "substrate")["pid"])
                pids["gateway"] = int(client.node(UNIVERSE, "gateway")["pid"])
            targets = [
                ("floor", f"http://127.0.0.1:{ports['floor']}/ping"),
                ("bare", f"http://127.0.0.1:{ports['bare']}/ping"),
                ("substrate", substrate),
                ("gateway", gateway),
            ]
            relay_floor = build_relay_floor(Path(tmp))
            args.host_probe = build_host_probe(Path(tmp))
            tail_client = build_tail_client(Path(tmp))
            # The same hop as the gateway's: the substrate's Unix socket (its TCP port if it has none).
            hop = http_socket_of(pids["substrate"]) or substrate.split(":")[-1].split("/")[0]
            if relay_floor is not None:
                port = free_port()
                servers.append(
                    subprocess.Popen(
                        [str(relay_floor), str(port), hop], stdin=subprocess.DEVNULL, start_new_session=True
                    )
                )
                pids["relay-floor"] = servers[-1].pid
                targets.append(("relay-floor", f"http://127.0.0.1:{port}/ping"))
            for (name, env), other in zip(others, daemons[1:], strict=True):
                start_with(other, env)
                with other.client() as client:
                    client.new_universe(UNIVERSE, SHAPE)
                    client.fixture(UNIVERSE, "buildLocalProject", ["", "", str(HELLO), ""])
                    targets.append((name, f"http://127.0.0.1:{client.port(UNIVERSE, 'substrate')}/ping"))
                    pids[name] = int(client.node(UNIVERSE, "substrate")["pid"])
                    # The gateway parses too (requests, and the answers it relays), relays in Python,
                    # reaches the substrate on loopback TCP, or keeps its CPU priority.
                    if name in (
                        "substrate-pyparse",
                        "substrate-pyrelay",
                        "substrate-tcphop",
                        "substrate-nice0",
                    ):
                        through = name.replace("substrate", "gateway")
                        targets.append((through, f"http://127.0.0.1:{client.port(UNIVERSE, 'gateway')}/ping"))
                        pids[through] = int(client.node(UNIVERSE, "gateway")["pid"])
            # The substrate behind each target, whose event loop's waits for a core are measured.
            watched = {
                name: pids[name.replace("gateway", "substrate")]
                for name, _ in targets
                if name not in ("floor", "bare", "relay-floor")
            }
            if "relay-floor" in pids:
                watched["relay-floor"] = pids["substrate"]
            for name, url in targets:
                wait_for_pong(url, timeout=30, what=f"the {name} target")
                warm_up(wrk, name, url, args)
            # Rounds of every target, one after the other: a machine whose speed drifts (shared cores) then
            # affects every target alike, and the medians compare like with like.
            for index in range(args.rounds):
                print(f"round {index + 1} of {args.rounds}", flush=True)
                runs = [
                    measure(wrk, name, url, args, pids.get(name), watched.get(name)) for name, url in targets
                ]
                rounds.append([*runs, measure_busy(wrk, substrate, spin, args)])
                # The slow calls leave the substrate's calls on worker threads until a streak of quick ones
                # brings them inline again: an unrecorded run, so the next round measures it settled.
                warm_up(wrk, "substrate", substrate, args)
            # Then the tail client, in rounds of its own: every request's time beside the host's. The
            # other daemons' universes and the bare server are done with: stopped, so that their rest
            # (heartbeats, ticks) takes no core from these runs.
            if tail_client is not None and args.host_probe is not None:
                for each in daemons[1:]:
                    each.stop()
                stop_process(servers[0])  # the bare server (the floor stays: it is a tail target)
                for index in range(args.rounds):
                    print(f"tail round {index + 1} of {args.rounds}", flush=True)
                    for name, url in targets:
                        if name in TAIL_TARGETS:
                            tail = run_tail(tail_client, args.host_probe, name, url, args, Path(tmp))
                            if tail is not None:
                                tails.append(tail)
        except DreamError as exc:
            raise SystemExit(f"benchmark failed: {exc}") from None
        finally:
            for server in servers:
                stop_process(server)
            for each in daemons:
                each.stop()
    print_table(medians(rounds))
    print_tails(tails)


if __name__ == "__main__":
    main()
