"""Building the native call extension (`python -m dream.wasm.native build`, run by scripts/setup-venv): it
compiles with the system compiler, and when it cannot it says why and exits non-zero without failing the
install (the raw path then serves)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dream.wasm import native


def test_it_builds_with_the_system_compiler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("no C compiler on this machine")
    monkeypatch.setattr(native, "HERE", tmp_path)  # not over the extension the other tests use
    assert native.build() is None
    built = native.target()
    assert built.parent == tmp_path and built.stat().st_size > 0
    assert not list(tmp_path.glob("*.partial"))


def test_without_a_compiler_it_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert native.build() == "no C compiler found (install gcc)"


def test_the_command_exits_non_zero_with_a_message_when_it_cannot_build(tmp_path: Path) -> None:
    # No compiler on PATH: the command says so and what happens instead; the install goes on.
    done = subprocess.run(
        [sys.executable, "-m", "dream.wasm.native", "build"],
        env={"PATH": str(tmp_path), "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "the native call extension was not built: no C compiler found" in done.stderr
    assert "wasm calls will use the raw call path" in done.stderr
    # The HTTP head parser is tried on its own, and says what happens without it.
    assert "the HTTP head parser extension was not built: no C compiler found" in done.stderr
    assert "HTTP servers will parse every head with httptools' callbacks" in done.stderr
