"""The minimal environment a build step runs with: toolchain dirs on PATH, caches under dream's dirs."""

from __future__ import annotations

import functools
import hashlib
import sys
from collections.abc import Mapping
from pathlib import Path

from dream.builders.paths import package_parent, tool_cache_dir, tools_dir
from dream.builders.toolchains import go_toolchain, node_path, zig_toolchain

SYSTEM_PATH = ("/usr/local/bin", "/usr/bin", "/bin")
# Go's compiler and linker run without garbage collection until their heap nears GO_MEMORY_TARGET (a
# soft target, not a limit: a bigger build collects, and goes on): a function's link then spends ~30%
# less CPU. `environment.variables` can set GOGC and GOMEMLIMIT otherwise.
GO_GC = "off"
GO_MEMORY_TARGET = "512MiB"


@functools.cache
def zig_cache_name() -> str:
    """The zig cache's folder, one per zig installation: entries one installation made (another virtualenv
    on the machine) are not valid for the next, which then compiles them again and cannot move its own
    over them in a build's layered cache, so a shared folder broke C and Zig builds."""
    chain = zig_toolchain()
    where = chain.path.resolve() if chain.path is not None else None
    return "zig-" + hashlib.sha256(f"{chain.version} {where}".encode()).hexdigest()[:12]


def _path_dirs() -> list[str]:
    dirs: list[str] = []
    for chain in (go_toolchain(), zig_toolchain()):
        if chain.path is not None:
            dirs.append(str(chain.path.parent))
    node = node_path()
    if node is not None:
        dirs.append(str(node.parent))
    dirs.extend(SYSTEM_PATH)
    return list(dict.fromkeys(dirs))


def step_env(work: Path, src: Path, out: Path, variables: Mapping[str, str] | None = None) -> dict[str, str]:
    """Upstream sets SRC/OUT for every step; the rest keeps compilers off the user's HOME and `/`."""
    cache = tool_cache_dir()
    home = work / "home"
    tmp = work / "tmp"
    home.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": ":".join(_path_dirs()),
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
        "SRC": str(src),
        "OUT": str(out),
        "CODE": str(src),
        "FILENAME": "main",
        "DREAM_WORK": str(work),
        "DREAM_PYTHON": sys.executable,
        "DREAM_TOOLS": str(tools_dir()),
        "DREAM_TOOL_CACHE": str(cache),
        "PYTHONPATH": str(package_parent()),
        "PYTHONDONTWRITEBYTECODE": "1",
        # Go: offline, pinned to the installed toolchain, caches shared per machine.
        "GOOS": "wasip1",
        "GOARCH": "wasm",
        "GOTOOLCHAIN": "local",
        "GOPROXY": "off",
        "GOSUMDB": "off",
        "GOFLAGS": "-mod=mod",
        "GOWORK": "off",
        "GOENV": "off",
        "GOTELEMETRY": "off",
        "CGO_ENABLED": "0",
        "GOGC": GO_GC,
        "GOMEMLIMIT": GO_MEMORY_TARGET,
        "GOCACHE": str(cache / "go-build"),
        "GOMODCACHE": str(cache / "go-mod"),
        "GOPATH": str(cache / "gopath"),
        # Zig builds wasi-libc once into the global cache; the local cache would default to cwd.
        "ZIG_GLOBAL_CACHE_DIR": str(cache / zig_cache_name()),
        "ZIG_LOCAL_CACHE_DIR": str(cache / zig_cache_name()),
        "npm_config_cache": str(cache / "npm"),
    }
    for key, value in (variables or {}).items():
        env[key] = value
    return env
