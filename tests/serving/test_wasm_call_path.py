"""A substrate calls functions on the path DREAM_WASM_CALL forces (the suite runs the serving tests once
per path), reports it in its /health, and serves on it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from dream.testing.project import deploy
from dream.wasm.callpath import ENV

pytestmark = pytest.mark.e2e

HELLO = Path(__file__).resolve().parents[2] / "fixtures" / "projects" / "hello"


def test_the_substrate_serves_on_the_forced_path_and_says_so(module_universe_factory: Any) -> None:
    forced = os.environ.get(ENV, "").strip().lower()
    # auto: the best, native here (scripts/setup-venv builds its extension)
    expected = forced if forced in ("native", "raw", "object", "plain") else "native"
    universe = module_universe_factory(
        "wasmcall",
        config={"Services": {"tns": {}, "hoarder": {}, "seer": {}, "substrate": {}}, "Simples": {}},
    )
    assert universe.health("substrate")["wasm_call"] == expected
    project = deploy(universe, HELLO)
    try:
        answer = project.get("/ping")
        assert (answer.status_code, answer.text) == (200, "PONG")
    finally:
        project.close()
