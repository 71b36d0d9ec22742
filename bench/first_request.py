"""Benchmark: the first request after deploying a ~2 MB Go function, cold and warm AOT cache.

Builds `fixtures/templates/ping_pong/go` once (with `build_function`, reusing dream's build cache), starts
its own daemon with a throw-away DREAM_HOME and DREAM_CACHE (the compiled-module cache starts empty) and a
universe with one substrate, publishes a project config whose functions `cold<i>` and `warm<i>` serve
`/cold<i>` and `/warm<i>` with that Go code, then for each run:
  cold  deploys a copy of the module made unique by a custom section (so nothing is cached: not the
        module in the substrate's memory, not its compiled code on disk) with the `compileFor` fixture,
        and times from the moment the deploy returns to the first `PONG` on `/cold<i>`;
  warm  restarts the substrate (its memory is empty, the on-disk AOT cache is kept), deploys the very
        same bytes to `warm<i>` and times the first `PONG` on `/warm<i>`.
Prints every run and the medians (goal: ≤ 50 ms). Everything it starts is stopped, even on failure.

Usage: .venv/bin/python bench/first_request.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from dream.builders.build import build_function
from dream.client import DreamClient
from dream.errors import DreamError
from dream.settings import CACHE_ENV, cache_home
from dream.testing.harness import DaemonProcess, exit_on_sigterm

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "fixtures" / "templates" / "ping_pong" / "go"
UNIVERSE = "benchfirst"
HOST = "bench.computers.com"
PROJECT = "QmDreamBenchFirstRequestProject00000000000001"
SHAPE = {"Services": {"tns": {}, "hoarder": {}, "seer": {}, "substrate": {}}, "Simples": {}}
GOAL_MS = 50.0
FIRST_PONG_TIMEOUT = 60.0


def function_id(kind: str, index: int) -> str:
    return f"QmDreamBenchFirstRequest{kind.title()}{index:04d}"


# -- the module and the project -----------------------------------------------------------------------


def build_go_module() -> bytes:
    """The ping_pong Go template built to main.wasm (cached by dream's builder after the first time)."""
    print(f"building {TEMPLATE.relative_to(ROOT)} ...", flush=True)
    result = build_function(TEMPLATE, cache_dir=cache_home() / "builds", log=lambda line: None)
    if not result.ok or result.wasm is None:
        raise SystemExit(f"cannot build the Go ping_pong template: {result.error}\n{result.log[-2000:]}")
    data = result.wasm.read_bytes()
    print(f"  {len(data) / 2**20:.2f} MB wasm ({'cached' if result.cached else 'built'})", flush=True)
    return data


def _leb128(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def unique_copy(wasm: bytes, tag: str) -> bytes:
    """`wasm` plus a custom section naming `tag`: same code, new hash (new CID, AOT cache miss)."""
    name = b"dream-bench"
    content = _leb128(len(name)) + name + tag.encode()
    return wasm + b"\x00" + _leb128(len(content)) + content


def write_project(root: Path, runs: int) -> None:
    """A config-only project: a domain and, per run, functions `cold<i>` and `warm<i>` on GET /<name>."""
    config = root / "config"
    (config / "functions").mkdir(parents=True)
    (config / "domains").mkdir()
    (config / "config.yaml").write_text(
        f"id: {PROJECT}\nname: benchfirst\ndescription: dream's first-request benchmark\ntags: []\n"
        "notification:\n  email: dev@example.com\n"
    )
    (config / "domains" / "bench.yaml").write_text(
        f"id: QmDreamBenchFirstRequestDomain0000000000000001\ndescription: benchmark domain\nfqdn: {HOST}\n"
    )
    for index in range(runs):
        for kind in ("cold", "warm"):
            name = f"{kind}{index}"
            (config / "functions" / f"{name}.yaml").write_text(
                f"id: {function_id(kind, index)}\ndescription: Go ping_pong\ntags: []\nsource: .\n"
                f"trigger:\n  type: https\n  method: GET\n  paths:\n    - /{name}\n"
                "domains:\n  - bench\nexecution:\n  timeout: 10s\n  memory: 64MB\n  call: ping\n"
            )


# -- measuring ----------------------------------------------------------------------------------------


def deploy(client: DreamClient, resource: str, module: Path) -> float:
    """Deploy `module` as `resource` with the `compileFor` fixture; returns how long that took (ms)."""
    started = time.perf_counter()
    client.fixture(UNIVERSE, "compileFor", [PROJECT, "", resource, "", str(module), ""])
    return (time.perf_counter() - started) * 1000


def first_pong(http: httpx.Client, url: str) -> float:
    """Seconds from now to the first `PONG` at `url` (earlier answers, e.g. 'no build yet', are retried)."""
    started = time.perf_counter()
    last = "no answer"
    while time.perf_counter() - started < FIRST_PONG_TIMEOUT:
        try:
            response = http.get(url)
        except httpx.HTTPError as exc:
            last = str(exc) or type(exc).__name__
        else:
            if response.status_code == 200 and response.text == "PONG":
                return time.perf_counter() - started
            last = f"HTTP {response.status_code}: {response.text[:200]}"
        time.sleep(0.002)  # normally never reached: the first request waits for the module and answers PONG
    raise DreamError(
        f"{url} did not answer PONG within {FIRST_PONG_TIMEOUT:.0f}s after the deploy (last: {last})"
    )


def restart_substrate(client: DreamClient) -> str:
    """A fresh substrate process (empty memory; the AOT cache on disk stays), returned once it serves."""
    client.kill_service(UNIVERSE, "substrate")
    client.new_service(UNIVERSE, "substrate")
    base = f"http://127.0.0.1:{client.port(UNIVERSE, 'substrate')}"
    deadline = time.monotonic() + 30
    with httpx.Client(headers={"host": HOST}, timeout=5) as http:
        while True:
            # An unknown path: resolves the host (as a serving substrate has) without loading any module.
            try:
                if http.get(f"{base}/not-a-function").status_code == 404:
                    return base
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise DreamError("the restarted substrate did not serve within 30s")
            time.sleep(0.02)


def run(client: DreamClient, wasm: bytes, work: Path, runs: int) -> tuple[list[float], list[float]]:
    base = f"http://127.0.0.1:{client.port(UNIVERSE, 'substrate')}"
    cold: list[float] = []
    warm: list[float] = []
    for index in range(runs):
        module = work / f"ping-{index}.wasm"
        module.write_bytes(unique_copy(wasm, f"{index}-{uuid.uuid4().hex}"))
        # Clients are made before the clock starts: making one (its TLS context) takes ~30 ms.
        with httpx.Client(headers={"host": HOST}, timeout=FIRST_PONG_TIMEOUT) as http:
            took = deploy(client, function_id("cold", index), module)
            cold.append(first_pong(http, f"{base}/cold{index}") * 1000)
        base = restart_substrate(client)
        with httpx.Client(headers={"host": HOST}, timeout=FIRST_PONG_TIMEOUT) as http:
            deploy(client, function_id("warm", index), module)
            warm.append(first_pong(http, f"{base}/warm{index}") * 1000)
        print(
            f"run {index + 1}: cold {cold[-1]:7.1f} ms   warm {warm[-1]:7.1f} ms   (deploy took {took:.0f} ms)",
            flush=True,
        )
    return cold, warm


def report(cold: list[float], warm: list[float]) -> None:
    print()
    print(f"{'cache':<6} {'median ms':>10} {'min ms':>8} {'max ms':>8}  goal ≤ {GOAL_MS:.0f} ms")
    for name, values in (("cold", cold), ("warm", warm)):
        median = statistics.median(values)
        verdict = "met" if median <= GOAL_MS else f"MISSED by {median - GOAL_MS:.0f} ms"
        print(f"{name:<6} {median:>10.1f} {min(values):>8.1f} {max(values):>8.1f}  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="deploys of each kind (default 5)")
    args = parser.parse_args()
    exit_on_sigterm()
    if args.runs < 1:
        raise SystemExit("--runs must be at least 1")
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)
    wasm = build_go_module()
    with tempfile.TemporaryDirectory(prefix="dream-bench-first-") as tmp:
        work = Path(tmp)
        write_project(work / "project", args.runs)
        # The daemon gets its own cache too: the substrate's AOT cache starts empty, and the compiled
        # copies (~4 MB each) go away with the temp dir. The build above used the machine's cache.
        os.environ[CACHE_ENV] = str(work / "cache")
        daemon = DaemonProcess(work / "home")
        try:
            daemon.start()
            with daemon.client() as client:
                client.new_universe(UNIVERSE, SHAPE)
                client.fixture(UNIVERSE, "buildLocalProject", ["", "false", str(work / "project"), ""])
                cold, warm = run(client, wasm, work, args.runs)
        except DreamError as exc:
            raise SystemExit(f"benchmark failed: {exc}") from None
        finally:
            daemon.stop()
    report(cold, warm)


if __name__ == "__main__":
    main()
