"""The baseline compiler a working-copy save uses: its modules keep every limit, load by their CID, and
give way to the optimizing compiler's code for the same bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from dream.builders import build_function
from dream.wasm import WasmHost, WasmMemoryLimit, WasmTimeout
from dream.wasm import precompile as precompiling
from dream.wasm.baseline import COMPILER_SETTING, compiler_setting, wants_baseline
from tests.builders.test_builders import PING_PONG, require_toolchain
from tests.substrate.conftest import MB, get, wat


def test_a_baseline_module_keeps_the_timeout_and_the_memory_limit(tmp_path: Path) -> None:
    with WasmHost(tmp_path) as host:
        traps = host.load("traps", wat("traps"), name="functions/traps", baseline=True)
        assert traps.baseline and traps.engine is not host.engine
        with pytest.raises(WasmTimeout):
            traps.call("spin", get(), timeout=0.2, memory_limit=MB)
        with pytest.raises(WasmMemoryLimit):
            traps.call("hog", get(), timeout=2, memory_limit=10 * MB)
        ping = host.load("ping", wat("ping"), name="functions/ping", baseline=True)
        assert ping.call("ping", get(), timeout=1, memory_limit=MB).body == b"PONG"


@pytest.mark.parametrize("pooling", [True, False])
def test_the_baseline_engine_allocates_as_the_optimizing_one(tmp_path: Path, pooling: bool) -> None:
    with WasmHost(tmp_path, pooling=pooling) as host:
        assert host.pooled is pooling  # the host says, rather than its settings string being read back
        ping = host.load("ping", wat("ping"), name="functions/ping", baseline=True)
        assert ping.baseline and ping.call("ping", get(), timeout=1, memory_limit=MB).body == b"PONG"
        traps = host.load("traps", wat("traps"), name="functions/traps", baseline=True)
        with pytest.raises(WasmMemoryLimit):
            traps.call("hog", get(), timeout=2, memory_limit=10 * MB)


def test_a_baseline_build_loads_by_its_cid_and_optimized_code_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DREAM_CACHE", str(tmp_path))  # the machine's cache, as monkey and substrates see it
    monkeypatch.setattr(precompiling, "_host", None)
    wasm = wat("ping")
    try:
        precompiling.precompile(wasm, "functions/ping", "bafkreisaved", baseline=True)
    finally:
        if precompiling._host is not None:
            precompiling._host.stop()
        monkeypatch.setattr(precompiling, "_host", None)
    with WasmHost(tmp_path / "wasm") as substrate:
        assert substrate.cache.has("bafkreisaved") and substrate.cache.has_baseline("bafkreisaved")
        loaded = substrate.load_cid("bafkreisaved", name="functions/ping")
        assert loaded is not None and loaded.baseline
        assert loaded.call("ping", get(), timeout=1, memory_limit=MB).body == b"PONG"
        assert substrate.cache.compiled == 0  # nothing was compiled on the substrate's side
        # The optimizing compiler's code for the same bytes (a push of the same code) is preferred.
        optimized = substrate.load("bafkreisaved", wasm, name="functions/ping")
        substrate.cache.put("bafkreisaved", optimized.cache_path)
        again = substrate.load_cid("bafkreisaved", name="functions/ping")
        assert again is not None and not again.baseline


@pytest.mark.language
def test_a_go_function_answers_on_the_baseline_engine(tmp_path: Path) -> None:
    """Go puts every function in its table, so a Go module has a trampoline per function: those the
    baseline engine compiles with Cranelift's single-pass register allocator (`TRAMPOLINE_REGALLOC`)."""
    require_toolchain("go")
    built = build_function(PING_PONG / "go", cache_dir=tmp_path / "build", log=lambda line: None)
    assert built.ok and built.wasm is not None, built.log
    with WasmHost(tmp_path / "wasm") as host:
        ping = host.load("go-ping", built.wasm.read_bytes(), name="functions/ping", baseline=True)
        assert ping.baseline
        for _ in range(3):  # the trampolines in and out of the guest, over and again
            assert ping.call("ping", get(), timeout=5, memory_limit=64 * MB).body == b"PONG"


def test_the_compiler_setting_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(COMPILER_SETTING, raising=False)
    assert compiler_setting() == "auto" and wants_baseline(True) and not wants_baseline(False)
    monkeypatch.setenv(COMPILER_SETTING, "baseline")
    assert wants_baseline(False)
    monkeypatch.setenv(COMPILER_SETTING, "optimizing")
    assert not wants_baseline(True)
    monkeypatch.setenv(COMPILER_SETTING, "fastest")
    with pytest.raises(
        ValueError,
        match="DREAM_WASM_COMPILER='fastest' is not a compiler setting; use one of: auto, baseline",
    ):
        WasmHost(tmp_path)
