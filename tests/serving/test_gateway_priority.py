"""The gateway gives way to the substrates on a shared core (`dream.gateway.priority`): its event loop runs
at niceness 5 by default, `DREAM_GATEWAY_NICE` sets it (0: off), anything else is refused with the
range; a thread's niceness is only ever lowered, and the threads it starts inherit it. Checked on real
threads and on a real universe's processes, by what the kernel reports."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from dream.gateway import priority
from dream.process.priority import lower_thread_priority
from dream.testing.harness import DaemonProcess

PER_THREAD = pytest.mark.skipif(
    not os.path.isdir("/proc/self/task"), reason="niceness is per thread only on Linux"
)


def on_a_thread(work: Callable[[], Any]) -> Any:
    """Run `work` on a thread of its own (a niceness raised there cannot be lowered again, so never on
    the test's own thread) and return what it returned."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(work()))
    thread.start()
    thread.join(timeout=30)
    assert out, "the thread did not finish"
    return out[0]


def own_niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def niceness_of(pid: int) -> int:
    """The niceness of the main thread of process `pid` (field 19 of its stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


@pytest.mark.parametrize(("value", "expected"), [(None, 5), ("", 5), ("0", 0), (" 12 ", 12), ("19", 19)])
def test_the_niceness_asked_for(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: int) -> None:
    if value is None:
        monkeypatch.delenv(priority.ENV, raising=False)
    else:
        monkeypatch.setenv(priority.ENV, value)
    assert priority.niceness() == expected


@pytest.mark.parametrize("value", ["-1", "20", "high", "5.5"])
def test_anything_else_is_refused_with_the_range(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(priority.ENV, value)
    with pytest.raises(ValueError) as refused:
        priority.niceness()
    assert str(refused.value) == (
        f"DREAM_GATEWAY_NICE={value!r} is not a niceness: use a whole number from 0 (off) to 19 (default 5)"
    )


@PER_THREAD
def test_the_gateway_thread_gives_way_and_its_threads_inherit_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(priority.ENV, "7")
    base = own_niceness()

    def gateway_loop() -> tuple[int | None, int, int]:
        got = priority.give_way(logging.getLogger("dream.gateway"))
        started = on_a_thread(own_niceness)  # a thread the loop starts afterwards
        return got, own_niceness(), started

    caplog.set_level(logging.INFO, "dream.gateway")
    got, loop, started = on_a_thread(gateway_loop)
    assert got == loop == started == max(base, 7)
    assert own_niceness() == base  # the test's own thread is untouched
    assert f"the gateway runs at niceness {max(base, 7)}, giving way" in caplog.text


@PER_THREAD
def test_off_keeps_the_priority_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(priority.ENV, "0")
    base = own_niceness()
    caplog.set_level(logging.INFO, "dream.gateway")
    got, loop = on_a_thread(lambda: (priority.give_way(logging.getLogger("dream.gateway")), own_niceness()))
    assert got is None and loop == base
    assert "the gateway keeps its CPU priority (DREAM_GATEWAY_NICE=0)" in caplog.text


@PER_THREAD
def test_a_thread_is_never_given_a_higher_priority() -> None:
    def at_ten_then_five() -> tuple[int | None, int]:
        lower_thread_priority(10)
        return lower_thread_priority(5), own_niceness()

    got, now = on_a_thread(at_ten_then_five)
    assert got == now == max(own_niceness(), 10)


@PER_THREAD
def test_a_universe_gateway_gives_way_to_its_substrate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(priority.ENV, raising=False)
    base = own_niceness()
    daemon = DaemonProcess(tmp_path / "home").start()
    try:
        with daemon.client() as client:
            client.new_universe(
                "nice", {"Services": {"tns": {}, "substrate": {}, "gateway": {}}, "Simples": {}}
            )
            substrate = int(client.node("nice", "substrate")["pid"])
            gateway = int(client.node("nice", "gateway")["pid"])
            port = client.port("nice", "gateway")
        assert niceness_of(gateway) == max(base, priority.GATEWAY_NICE)
        assert niceness_of(substrate) == base
        # It still serves: an unknown host is the gateway's own 404, not a hang.
        answer = httpx.get(f"http://127.0.0.1:{port}/ping", headers={"host": "nobody.example"}, timeout=10)
        assert answer.status_code == 404, answer.text
    finally:
        daemon.stop()
