# ruff: noqa: E402, F401 - a module of imports, some after the stand-ins they need
"""Imported once by the zygote: everything a node needs, so forked nodes start warm.

uvloop is left out on purpose: only the nodes that serve user traffic (substrate, gateway) load it, which
keeps ~10 MB out of every other node.
"""

import sys
import types

import dream.unused_imports

dream.unused_imports.skip()
# Nodes use httpx's client and uvicorn's Server, never their command lines; importing those would load
# click, rich, pygments and watchfiles into every node (~5 MB each). A None entry makes httpx's optional
# import of its CLI fail as if it were not installed; uvicorn's package imports its CLI module eagerly, so
# it gets an empty stand-in.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
_cli = types.ModuleType("uvicorn.main", "not loaded in nodes: they do not run uvicorn's command line")
_cli.main = _cli.run = None  # type: ignore[attr-defined]


def _server(name: str) -> object:
    if name != "Server":
        raise AttributeError(name)
    from uvicorn.server import Server

    return Server


_cli.__dict__["__getattr__"] = _server
sys.modules.setdefault("uvicorn.main", _cli)

import asyncio
import json

import anyio
import httpcore  # httpx imports it on its first client: ~16 ms in every node otherwise
import httptools
import httpx
import starlette.applications
import starlette.responses
import starlette.routing
import uvicorn
import uvicorn.protocols.http.httptools_impl

import dream.node.process
import dream.node.runtime

# The zygote and the nodes forked from it leave the terminal's process group: Ctrl-C or a signal sent to
# the group reaches only the daemon, which stops the nodes in order (and nodes exit if it dies).
try:
    import os as _os

    _os.setsid()
except OSError:
    pass
