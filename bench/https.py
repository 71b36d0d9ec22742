"""Benchmark: HTTPS beside plain HTTP for the sample's WAT `ping`, on the substrate and through the gateway;
new TLS handshakes per second; and the first handshake for a new domain (certificate issued by auth).

In one run, on loopback, against a universe of its own (one substrate, one gateway, auth):
  keep-alive  h2load (HTTP/1.1, 64 connections, 1 thread) on `https://<fqdn>.localhost:<port>/ping` and
              on the same URL over `http`, for the substrate and the gateway, in 3 rounds of 5 s; the
              median round per target and the ratios https/http (goal ≥ 0.7);
  handshakes  a Python `ssl` client against the substrate's https port for 5 s: full handshakes and
              resumed ones (TLS 1.3 tickets), one connection at a time, per second (the client's own
              cost included);
  first       the time of the first TLS handshake naming a new domain (the substrate fetches its
              certificate from auth, which issues it), for 10 domains registered with auth just before,
              against a second handshake naming the same domain (certificate at hand).
h2load (Debian's nghttp2-client) is installed with apt-get when missing and run as root.
Starts its own daemon (throw-away DREAM_HOME and DREAM_CACHE, free port) and stops all it started, even
on failure. Other load on the machine skews the figures: the load average is printed first.

Usage: .venv/bin/python bench/https.py [--duration 5] [--rounds 3] [--connections 64] [--domains 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from dream.clients import Clients
from dream.errors import DreamError
from dream.node.peers import PeerClient
from dream.settings import CACHE_ENV
from dream.testing.harness import DaemonProcess, UniverseHandle, exit_on_sigterm

ROOT = Path(__file__).resolve().parents[1]
HELLO = ROOT / "fixtures" / "projects" / "hello"
HOST = "hello.computers.com"
PROJECT = "QmHe11oDreamSamp1eProjectForServingTests0001"
UNIVERSE = "benchhttps"
SHAPE = {
    "Services": {"auth": {}, "tns": {}, "hoarder": {}, "seer": {}, "gateway": {}, "substrate": {}},
    "Simples": {},
}
GOAL = 0.7  # https req/s over http req/s, keep-alive


def ensure(tool: str, package: str) -> str:
    found = shutil.which(tool)
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit(
            f"{tool} is not installed: install it with `sudo apt-get install -y {package}`, then rerun"
        )
    print(f"{tool} is not installed; installing it with `apt-get install -y {package}` ...", flush=True)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.STDOUT}
    if subprocess.run(["apt-get", "install", "-y", package], **quiet).returncode != 0:
        subprocess.run(["apt-get", "update"], **quiet)
        subprocess.run(["apt-get", "install", "-y", package], **quiet)
    found = shutil.which(tool)
    if not found:
        raise SystemExit(
            f"`apt-get install -y {package}` did not install {tool}; install it by hand, then rerun"
        )
    return found


def warn_if_busy() -> None:
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    print(f"{cores} cores, load average {load:.2f}", flush=True)
    if load > 0.5 * cores:
        print("warning: other processes are using the CPU; these figures will be low and noisy", flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def h2load(tool: str, url: str, port: int, *, duration: float, connections: int) -> tuple[float, int]:
    """(requests per second, requests done) of `url` (connected to 127.0.0.1:port), keep-alive HTTP/1.1."""
    command = [
        tool,
        "--h1",
        "-t1",
        f"-c{connections}",
        f"-D{max(1, round(duration))}",
        f"--connect-to=127.0.0.1:{port}",
        url,
    ]
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    found = re.search(r"finished in .*?, ([\d.]+) req/s", out.stdout)
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out.stdout)
    if out.returncode != 0 or not found or not done or done.group(1) != done.group(2):
        raise DreamError(f"h2load failed on {url} ({' '.join(command)}):\n{out.stdout}{out.stderr}")
    return float(found.group(1)), int(done.group(1))


def handshakes_per_second(
    port: int, name: str, context: ssl.SSLContext, seconds: float, *, resume: bool
) -> float:
    """TLS handshakes per second naming `name`, one connection at a time: full ones, or resumed ones (each
    offering the session of the first connection)."""
    session = None
    if resume:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
            context.wrap_socket(raw, server_hostname=name) as sock,
        ):
            sock.sendall(f"GET /ping HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
            while sock.recv(65536):  # TLS 1.3 tickets come after the handshake: read them
                pass
            session = sock.session
    count = 0
    reused = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
            context.wrap_socket(raw, server_hostname=name, session=session) as sock,
        ):
            reused += sock.session_reused
        count += 1
    if resume and reused < count:
        raise DreamError(f"only {reused} of {count} handshakes resumed the session")
    return count / (time.perf_counter() - started)


def handshake_ms(port: int, name: str, context: ssl.SSLContext) -> float:
    started = time.perf_counter()
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname=name),
    ):
        return (time.perf_counter() - started) * 1000


def register_domains(universe: UniverseHandle, names: list[str]) -> None:
    async def run() -> None:
        peers = PeerClient(
            secret=universe.key(),
            peer="bench",
            universe_id=universe.id,
            universe=universe.name,
            registries=[f"{universe.client.url}/universe/{universe.name}/registry"],
            timeout=30.0,
        )
        try:
            for name in names:
                await Clients(peers).auth.register_domain(name, PROJECT)
        finally:
            await peers.close()

    asyncio.run(run())


def tls_read_sizes(folder: Path, rounds: int = 7, n: int = 5000) -> dict[int, float]:
    """µs of one keep-alive request/response through a pair of memory-BIO SSL objects, the server side
    reading with each size (dream.http.tls.READ_SIZE is one of them): best of `rounds` interleaved."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = folder / "read-sizes.pem"
    pem.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(pem)
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.check_hostname, client_context.verify_mode = False, ssl.CERT_NONE
    s_in, s_out, c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_context.wrap_bio(s_in, s_out, server_side=True)
    client = client_context.wrap_bio(c_in, c_out)
    for _ in range(10):  # the handshake, both sides by turns
        for side in (client, server):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    request = b"GET /ping HTTP/1.1\r\nhost: bench.localhost\r\n\r\n"
    response = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\ncontent-type: text/plain\r\n\r\nPONG"

    def exchange(size: int) -> None:
        client.write(request)
        s_in.write(c_out.read())
        server.read(size)
        server.write(response)
        c_in.write(s_out.read())
        client.read(1024)

    best = {size: float("inf") for size in (16 * 1024, 64 * 1024, 256 * 1024)}
    for _ in range(rounds):
        for size in best:
            started = time.perf_counter()
            for _ in range(n):
                exchange(size)
            best[size] = min(best[size], (time.perf_counter() - started) / n * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load per target and round")
    parser.add_argument("--connections", type=int, default=64, help="h2load connections (default 64)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the four targets (default 3)")
    parser.add_argument("--domains", type=int, default=10, help="new domains for the first handshake")
    parser.add_argument(
        "--read-sizes", action="store_true", help="only the TLS read-size comparison (in memory, no universe)"
    )
    args = parser.parse_args()
    if args.read_sizes:
        with tempfile.TemporaryDirectory(prefix="dream-bench-tls-") as tmp:
            best = tls_read_sizes(Path(tmp))
        print(f"load average {os.getloadavg()[0]:.2f}")
        for size, took in best.items():
            print(
                f"TLS request/response in memory, server reads of {size // 1024} KiB: {took:.1f} µs (best of 7)"
            )
        return
    exit_on_sigterm()
    h2 = ensure("h2load", "nghttp2-client")
    warn_if_busy()
    with tempfile.TemporaryDirectory(prefix="dream-bench-https-") as tmp:
        os.environ[CACHE_ENV] = str(Path(tmp) / "cache")
        daemon = DaemonProcess(Path(tmp) / "home")
        try:
            daemon.start()
            with daemon.client() as client:
                client.new_universe(UNIVERSE, SHAPE)
                client.fixture(UNIVERSE, "buildLocalProject", ["", "", str(HELLO), ""])
                universe = UniverseHandle(client, UNIVERSE)
                ports = {
                    node: {p: universe.port(node, p) for p in ("http", "https")}
                    for node in ("substrate", "gateway")
                }
                context = ssl.create_default_context(cafile=str(Path(tmp) / "home" / "ca" / "root.pem"))
                name = f"{HOST}.localhost"
                targets = [
                    (f"{node} {scheme}", f"{scheme}://{name}:{ports[node][scheme]}/ping", ports[node][scheme])
                    for node in ("substrate", "gateway")
                    for scheme in ("http", "https")
                ]
                pids = {n["name"].split("@")[0]: int(n["pid"]) for n in universe.nodes()}
                rounds: dict[str, list[float]] = {label: [] for label, _, _ in targets}
                cpu: dict[str, list[float]] = {label: [] for label, _, _ in targets}
                for _, url, port in targets:  # modules loaded, certificates fetched, pools filled
                    h2load(h2, url, port, duration=1, connections=args.connections)
                for index in range(args.rounds):
                    print(f"round {index + 1} of {args.rounds}", flush=True)
                    for label, url, port in targets:
                        # CPU per request of the serving processes: steadier than req/s on a shared machine.
                        before = sum(cpu_seconds(pids[n]) for n in ("substrate", "gateway"))
                        rps, done = h2load(
                            h2, url, port, duration=args.duration, connections=args.connections
                        )
                        used = sum(cpu_seconds(pids[n]) for n in ("substrate", "gateway")) - before
                        rounds[label].append(rps)
                        cpu[label].append(used / done * 1e6)
                        print(
                            f"  {label}: {rps:,.0f} req/s, {used / done * 1e6:.0f} µs CPU per request",
                            flush=True,
                        )
                seconds = max(1, round(args.duration))
                full = handshakes_per_second(
                    ports["substrate"]["https"], name, context, seconds, resume=False
                )
                resumed = handshakes_per_second(
                    ports["substrate"]["https"], name, context, seconds, resume=True
                )
                fresh = [f"bench{index}-{os.getpid()}.computers.com" for index in range(args.domains)]
                register_domains(universe, fresh)
                first = [handshake_ms(ports["substrate"]["https"], f"{n}.localhost", context) for n in fresh]
                second = [handshake_ms(ports["substrate"]["https"], f"{n}.localhost", context) for n in fresh]
        except DreamError as exc:
            raise SystemExit(f"benchmark failed: {exc}") from None
        finally:
            daemon.stop()
    print()
    medians = {label: statistics.median(values) for label, values in rounds.items()}
    print(f"{'target':<16} {'req/s (median)':>15} {'CPU µs/request (median)':>24}")
    for label, value in medians.items():
        print(f"{label:<16} {value:>15,.0f} {statistics.median(cpu[label]):>24.0f}")
    print()
    for node in ("substrate", "gateway"):
        ratio = medians[f"{node} https"] / medians[f"{node} http"]
        print(f"{node} https/http: {ratio:.2f} (goal ≥ {GOAL}: {'met' if ratio >= GOAL else 'MISSED'})")
    print(f"new TLS handshakes/s (substrate, one at a time): {full:,.0f} full, {resumed:,.0f} resumed")
    print(
        f"first handshake for a new domain (issued by auth): median {statistics.median(first):.1f} ms, "
        f"max {max(first):.1f} ms; a second one: median {statistics.median(second):.1f} ms "
        f"({len(fresh)} domains)"
    )


if __name__ == "__main__":
    main()
