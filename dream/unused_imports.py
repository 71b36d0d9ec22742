"""Keeping libraries dream never uses out of its processes (the CLI, the daemon, the zygote and so every
node), even when something installed them: their import is start-up time and memory for nothing.

Call `skip()` first thing in a process's entry point, never from a library module: the process that
imports a library (a test run, a user's script) may need what is skipped here.
"""

from __future__ import annotations

import sys
import types

# httpcore imports trio whenever it is installed (the test extras bring it, through selenium), only to
# support trio's event loop, which dream never runs: ~100 ms in every process that makes an HTTP client.
# dream uses httpx's client and uvicorn's Server, never their command lines, which load click, rich,
# pygments and watchfiles (~0.15 s, ~5 MB). A None entry makes an optional import fail as if the module
# were not installed (trio, httpx's CLI); uvicorn's package imports its CLI module eagerly, so that one
# gets a stand-in that only hands out `Server`.
ABSENT = ("trio", "httpx._main")


def _uvicorn_server(name: str) -> object:
    if name != "Server":
        raise AttributeError(name)
    from uvicorn.server import Server

    return Server


def _uvicorn_cli_stand_in() -> types.ModuleType:
    module = types.ModuleType("uvicorn.main", "not loaded by dream: it does not run uvicorn's command line")
    module.main = module.run = None  # type: ignore[attr-defined]  # a stand-in module, filled here
    module.__dict__["__getattr__"] = _uvicorn_server
    return module


def skip() -> None:
    for name in ABSENT:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # None: `import name` fails at once
    sys.modules.setdefault("uvicorn.main", _uvicorn_cli_stand_in())
