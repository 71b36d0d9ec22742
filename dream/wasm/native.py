"""The compiled per-request layer (`_native/nativecall.c`): building it, and loading it for the native path.

`scripts/setup-venv` builds it (`python -m dream.wasm.native build`) with the system C compiler and
Python's headers into `dream/wasm/_nativecall<EXT_SUFFIX>`; nothing else is needed (no PyPI build
dependency). A failed build does not fail the install: the extension is then missing, and the wasm host
calls through the raw call path (pure Python over ctypes), saying why in its start-up line. The same
command builds the HTTP server's head parser (`dream/http/_native/headparse.c` into
`dream/http/_headparse<EXT_SUFFIX>`, see `dream.http.headparse`), which has the same fallback: without it
every head goes through httptools' callbacks; and the gateway's relay (`dream/http/_native/relay.c` into
`dream/http/_relay<EXT_SUFFIX>`, see `dream.gateway.relay`): without it the gateway relays in Python.

`load()` imports it and hands it the libwasmtime wasmtime-py loaded, with the struct sizes it relies on;
it answers why not when it cannot (not built, built for another Python, a changed wasmtime).
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.machinery
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "_native" / "nativecall.c"
NAME = "_nativecall"
BUILD_HINT = "build it with `scripts/setup-venv` (it needs gcc and Python's headers, e.g. apt-get install gcc python3-dev)"

_loaded: tuple[ModuleType | None, str] | None = None


HEAD_PARSER = HERE.parent / "http" / "_native" / "headparse.c"


def target() -> Path:
    """Where the built extension goes: beside this module, with this Python's extension suffix."""
    return HERE / (NAME + importlib.machinery.EXTENSION_SUFFIXES[0])


def head_parser_target() -> Path:
    """Where the HTTP server's head parser goes: beside `dream.http.headparse`."""
    return HEAD_PARSER.parent.parent / ("_headparse" + importlib.machinery.EXTENSION_SUFFIXES[0])


RELAY = HERE.parent / "http" / "_native" / "relay.c"


def relay_target() -> Path:
    """Where the gateway's relay goes (`dream.gateway.relay` loads it)."""
    return RELAY.parent.parent / ("_relay" + importlib.machinery.EXTENSION_SUFFIXES[0])


def build(source: Path | None = None, out: Path | None = None) -> str | None:
    """Compile the extension (or the C `source` into `out`); None when built, else why not (one sentence)."""
    import shutil  # the build's own imports: a node only loads what was built
    import subprocess
    import sysconfig

    compiler = shutil.which(str(sysconfig.get_config_var("CC") or "cc").split()[0]) or shutil.which("gcc")
    if compiler is None:
        return "no C compiler found (install gcc)"
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").is_file():
        return f"Python.h is not in {include} (install Python's headers, e.g. python3-dev)"
    out = out or target()
    partial = out.with_suffix(".partial")
    command = [
        compiler,
        "-O2",
        "-fPIC",
        "-shared",
        "-std=c11",
        "-Wall",
        f"-I{include}",
        str(source or SOURCE),
        "-o",
        str(partial),
        "-ldl",
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        return f"{' '.join(command)} failed:\n{done.stderr.strip()}"
    partial.replace(out)  # a running process keeps the file it opened
    return None


def load() -> tuple[ModuleType | None, str]:
    """(the extension, "") once it is ready to call, else (None, why not); decided once per process."""
    global _loaded
    if _loaded is None:
        _loaded = _load()
    return _loaded


def _load() -> tuple[ModuleType | None, str]:
    try:
        module = importlib.import_module(f"dream.wasm.{NAME}")
    except ImportError as exc:
        if not target().is_file():
            return None, f"the compiled extension dream/wasm/{target().name} is not built; {BUILD_HINT}"
        return None, f"the compiled extension does not load ({exc}); {BUILD_HINT}"
    try:
        from wasmtime import _ffi

        extern = _ffi.wasmtime_extern_t
        module.init(
            _ffi.dll._name,
            ctypes.sizeof(extern),
            extern.of.offset,
            ctypes.sizeof(_ffi.wasmtime_instance_t),
            ctypes.sizeof(_ffi.wasmtime_val_raw_t),
            _ffi.WASMTIME_EXTERN_FUNC.value,
            _ffi.WASMTIME_EXTERN_MEMORY.value,
        )
    except (ImportError, AttributeError) as exc:
        return None, f"the compiled extension cannot use this wasmtime-py: {exc}"
    return module, ""


# Each extension: (what it is, its source and target, what happens without it).
EXTENSIONS = (
    (
        "native call extension",
        lambda: (SOURCE, target()),
        "wasm calls will use the raw call path (pure Python, slower)",
    ),
    (
        "HTTP head parser extension",
        lambda: (HEAD_PARSER, head_parser_target()),
        "HTTP servers will parse every head with httptools' callbacks (slower)",
    ),
    (
        "gateway relay extension",
        lambda: (RELAY, relay_target()),
        "the gateway will relay every request in Python (slower)",
    ),
)


def record_ring() -> Callable[[int, int, int, int, int], Any] | None:
    """The extension's `Ring(size, method_bytes, host_bytes, path_bytes, via_bytes)`: the request
    inspector's ring of fixed-size records in C (`_native/recordring.c`), which a substrate fills per
    request with its `served` and `record` (`dream.substrate.front.Front._record_served`, `_record`);
    None when it is not built. It needs no wasmtime (no `load()`)."""
    try:
        module = importlib.import_module(f"dream.wasm.{NAME}")
    except ImportError:
        return None
    return getattr(module, "Ring", None)  # None: built from an older source


def main(argv: list[str]) -> int:
    if argv != ["build"]:
        print("usage: python -m dream.wasm.native build", file=sys.stderr)
        return 2
    failed = 0
    for what, paths, without in EXTENSIONS:  # each on its own: one failing leaves the other built
        source, out = paths()
        problem = build(source, out)
        if problem is None:
            print(f"dream: built the {what} ({out.name})")
            continue
        failed = 1
        print(
            f"dream: the {what} was not built: {problem}\n"
            f"dream: {without}; rerun scripts/setup-venv once gcc and Python's headers are installed",
            file=sys.stderr,
        )
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
