# ruff: noqa: E402, F401 - a module of imports, some after the stand-ins they need
"""Imported once by the zygote: everything a node needs, so forked nodes start warm.

uvloop is left out on purpose: only the nodes that serve user traffic (substrate, gateway) load it, which
keeps ~10 MB out of every other node.
"""

# Before the imports below: no trio, and neither httpx's nor uvicorn's command line (see the module).
import dream.unused_imports

dream.unused_imports.skip()

import asyncio
import json
import sqlite3  # the nodes with a store (auth, tns, patrick, hoarder)

import anyio
import anyio._backends._asyncio  # loaded on a node's first HTTP client or thread: shared when loaded here
import httpcore  # httpx imports it on its first client: ~16 ms in every node otherwise
import httptools
import httpx
import starlette.applications
import starlette.responses
import starlette.routing
import uvicorn
import uvicorn.lifespan.on
import uvicorn.protocols.http.httptools_impl

import dream.clients  # most services call others: shared by the forks instead of imported by each
import dream.node.entry
import dream.node.main
import dream.node.runtime
import dream.node.store
import dream.tcc.tns_keys

# The zygote and the nodes forked from it leave the terminal's process group: Ctrl-C or a signal sent to
# the group reaches only the daemon, which stops the nodes in order (and nodes exit if it dies).
try:
    import os as _os

    _os.setsid()
except OSError:
    pass
