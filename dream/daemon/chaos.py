"""Chaos the daemon can cause in a universe's nodes, for resilience tests (`dream chaos`).

- kill: SIGKILL, a crash; the daemon's supervision restarts the node as it does any crash.
- pause: SIGSTOP, then SIGCONT after a while. The resume is certain: a timer in the daemon, and a small
  detached process (`dream.daemon.resume`) that resumes it even if the daemon is gone by then; stopping
  the universe resumes its nodes first too.
- faults: latency or failed answers on a node's http or p2p port for a while, set in the node itself
  (`dream.node.chaos`) through its p2p API.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from dream.clients.chaos import ChaosClient, FaultView
from dream.daemon.universe import NodeRecord, Universe
from dream.errors import DreamError
from dream.node.chaos import FAIL_STATUS, MAX_FAULT_SECONDS, FaultError, check_fault
from dream.node.peers import PeerInfo
from dream.process.identity import process_start


@dataclass
class Pause:
    label: str
    pid: int
    start: str  # the process's start time: its identity with the pid
    until: float  # time.time()
    timer: asyncio.TimerHandle | None = None
    watchdog: subprocess.Popen[bytes] | None = None

    def view(self) -> dict[str, Any]:
        return {
            "node": self.label,
            "pid": self.pid,
            "remaining": round(max(0.0, self.until - time.time()), 3),
        }


@dataclass
class UniverseChaos:
    """What is going on in one universe: its paused nodes and the faults set through the daemon."""

    pauses: dict[str, Pause] = field(default_factory=dict)  # node id → pause
    faults: dict[str, tuple[str, float, list[FaultView]]] = field(
        default_factory=dict
    )  # id → (label, until, views)


_state: dict[str, UniverseChaos] = {}


def of(universe: Universe) -> UniverseChaos:
    return _state.setdefault(universe.name, UniverseChaos())


def _live(record: NodeRecord) -> int:
    pid = record.pid
    if not record.alive or pid is None:
        raise DreamError(
            f"{record.config.label} is not running ({record.state}: {record.reason or 'no process'})"
        )
    return pid


def _check_seconds(seconds: float, what: str) -> None:
    if not 0 < seconds <= MAX_FAULT_SECONDS:
        raise DreamError(f"{what} lasts more than 0s and at most {MAX_FAULT_SECONDS:g}s, not {seconds:g}s")


STOP_WAIT = 2.0  # seconds a SIGSTOP may take to land (a signal is delivered when the process next runs)


def _process_state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return ""
    return stat[stat.rindex(b")") + 2 :].split()[0].decode()


def wait_stopped(pids: list[int], timeout: float = STOP_WAIT) -> None:
    """Return once every process in `pids` is stopped (or gone), for at most `timeout` seconds: a signal
    is asynchronous, and what follows a pause must not run beside a process still running."""
    deadline = time.monotonic() + timeout
    waiting = list(pids)
    while waiting and time.monotonic() < deadline:
        waiting = [pid for pid in waiting if _process_state(pid) not in ("T", "t", "", "Z", "X")]
        if waiting:
            time.sleep(0.001)


def kill(record: NodeRecord) -> dict[str, Any]:
    pid = _live(record)
    os.kill(pid, signal.SIGKILL)
    return {"node": record.config.label, "pid": pid, "signal": "SIGKILL"}


def pause(universe: Universe, record: NodeRecord, seconds: float) -> dict[str, Any]:
    _check_seconds(seconds, "a pause")
    pid = _live(record)
    start = process_start(pid)
    chaos = of(universe)
    _end_pause(chaos, record.config.id, resume=False)
    watchdog = subprocess.Popen(
        [sys.executable, "-m", "dream.daemon.resume", str(pid), start, f"{seconds:.3f}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # outlives the daemon if need be
    )
    os.kill(pid, signal.SIGSTOP)
    wait_stopped([pid])
    record.note(f"paused for {seconds:g}s by `dream chaos pause`")
    paused = Pause(record.config.label, pid, start, time.time() + seconds, watchdog=watchdog)
    paused.timer = asyncio.get_running_loop().call_later(seconds, _end_pause, chaos, record.config.id)
    chaos.pauses[record.config.id] = paused
    return paused.view()


def _end_pause(chaos: UniverseChaos, node_id: str, *, resume: bool = True) -> Pause | None:
    paused = chaos.pauses.pop(node_id, None)
    if paused is None:
        return None
    if paused.timer is not None:
        paused.timer.cancel()
    if resume and process_start(paused.pid) == paused.start:
        os.kill(paused.pid, signal.SIGCONT)
    if paused.watchdog is not None:
        with contextlib.suppress(ProcessLookupError):
            paused.watchdog.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            paused.watchdog.wait(timeout=1)
    return paused


def resume(universe: Universe, record: NodeRecord) -> dict[str, Any]:
    paused = _end_pause(of(universe), record.config.id)
    return {"node": record.config.label, "resumed": paused is not None}


def resume_all(universe: Universe) -> None:
    """Resume every node paused in `universe` (before it stops: a stopped process cannot exit)."""
    chaos = _state.pop(universe.name, None)
    if chaos is not None:
        for node_id in list(chaos.pauses):
            _end_pause(chaos, node_id)


def _peer(record: NodeRecord) -> PeerInfo:
    return PeerInfo.of(record.config, pid=_live(record), registry=False)


def port_of(record: NodeRecord, port: str) -> str:
    """`auto`: the public http port when the node has one (a substrate's function traffic), else p2p (how
    nodes such as tns are reached)."""
    ports = record.config.ports
    if port == "auto":
        return "http" if "http" in ports else "p2p"
    if port in ("http", "p2p") and port not in ports:
        raise DreamError(
            f"{record.config.label} has no {port} port (it has: {', '.join(sorted(ports))}); use --port p2p"
        )
    return port


async def fault(
    universe: Universe,
    record: NodeRecord,
    *,
    port: str,
    delay: float = 0.0,
    rate: float = 0.0,
    seconds: float,
    status: int = FAIL_STATUS,
) -> list[FaultView]:
    port = port_of(record, port)
    try:
        check_fault(port, delay=delay, rate=rate, seconds=seconds, status=status)
    except FaultError as exc:
        raise DreamError(str(exc)) from None
    peers = universe.peer_client()
    try:
        views = await ChaosClient(peers).set_fault(
            _peer(record), port=port, delay=delay, rate=rate, seconds=seconds, status=status
        )
    finally:
        await peers.close()
    record.note(
        f"fault on its {port} port for {seconds:g}s by `dream chaos`: delay {delay:g}s, fail rate {rate:g}"
    )
    of(universe).faults[record.config.id] = (record.config.label, time.time() + seconds, views)
    return views


async def clear(universe: Universe, record: NodeRecord) -> dict[str, Any]:
    """End every pause and fault of a node now."""
    chaos = of(universe)
    paused = _end_pause(chaos, record.config.id)
    chaos.faults.pop(record.config.id, None)
    left: list[FaultView] = []
    if record.alive:
        peers = universe.peer_client()
        try:
            left = await ChaosClient(peers).clear(_peer(record))
        finally:
            await peers.close()
    return {"node": record.config.label, "resumed": paused is not None, "faults": left}


def active(universe: Universe) -> dict[str, Any]:
    chaos = of(universe)
    now = time.time()
    for node_id, (_, until, _) in list(chaos.faults.items()):
        if until <= now:
            chaos.faults.pop(node_id)
    return {
        "paused": [p.view() for p in chaos.pauses.values()],
        "faults": [
            {"node": label, "remaining": round(until - now, 3), "faults": views}
            for label, until, views in chaos.faults.values()
        ],
    }
