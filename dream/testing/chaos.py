"""Chaos for a user's end-to-end tests: break a node of a universe for a while, and be sure it is mended
when the block ends (even when the test fails).

    def test_survives_a_slow_tns(deploy_project, dream_chaos):
        project = deploy_project("my-project")
        with dream_chaos.delayed("tns", 0.2, seconds=30):
            assert project.get("/ping").status_code == 200
        with dream_chaos.failing("substrate", rate=0.1, seconds=10):
            ...  # about one answer in ten is a 503
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from dream.testing.harness import UniverseHandle


class Chaos:
    """`dream chaos` for one universe, through the daemon's API (`DreamClient.chaos_*`)."""

    def __init__(self, universe: UniverseHandle) -> None:
        self.universe = universe
        self.touched: set[str] = set()

    def kill(self, node: str) -> dict[str, Any]:
        """SIGKILL the node (a crash); the daemon restarts it."""
        return self.universe.client.chaos_kill(self.universe.name, node)

    def pause(self, node: str, seconds: float) -> dict[str, Any]:
        """SIGSTOP the node; it resumes after `seconds` (or on `resume`/`clear`)."""
        self.touched.add(node)
        return self.universe.client.chaos_pause(self.universe.name, node, seconds)

    def resume(self, node: str) -> dict[str, Any]:
        return self.universe.client.chaos_resume(self.universe.name, node)

    def fault(self, node: str, *, seconds: float, **kwargs: Any) -> dict[str, Any]:
        """A delay and/or failure rate on the node's port (`port`, `delay`, `rate`, `status`)."""
        self.touched.add(node)
        return self.universe.client.chaos_fault(self.universe.name, node, seconds=seconds, **kwargs)

    def clear(self, node: str) -> dict[str, Any]:
        """End the node's pause and faults now."""
        return self.universe.client.chaos_clear(self.universe.name, node)

    def clear_all(self) -> None:
        for node in sorted(self.touched):
            with contextlib.suppress(Exception):  # a node the test killed for good has nothing to clear
                self.clear(node)
        self.touched.clear()

    @contextlib.contextmanager
    def paused(self, node: str, seconds: float = 60.0) -> Iterator[dict[str, Any]]:
        """The node is paused inside the block (for at most `seconds`) and resumed when it ends."""
        answer = self.pause(node, seconds)
        try:
            yield answer
        finally:
            self.clear(node)

    @contextlib.contextmanager
    def delayed(
        self, node: str, delay: float, *, seconds: float = 60.0, port: str = "auto"
    ) -> Iterator[None]:
        """Each request to the node's `port` waits `delay` seconds more inside the block."""
        self.fault(node, seconds=seconds, port=port, delay=delay)
        try:
            yield
        finally:
            self.clear(node)

    @contextlib.contextmanager
    def failing(
        self, node: str, *, rate: float, seconds: float = 60.0, port: str = "auto", status: int = 503
    ) -> Iterator[None]:
        """A share `rate` of the requests to the node's `port` are answered `status` inside the block."""
        self.fault(node, seconds=seconds, port=port, rate=rate, status=status)
        try:
            yield
        finally:
            self.clear(node)
