"""Imported once by the zygote: everything a node needs, so forked nodes start warm.

uvloop is left out on purpose: only the nodes that serve user traffic (substrate, gateway) load it, which
keeps ~10 MB out of every other node.
"""

import asyncio  # noqa: F401
import json  # noqa: F401

import anyio  # noqa: F401
import httptools  # noqa: F401
import httpx  # noqa: F401
import starlette.applications
import starlette.responses
import starlette.routing  # noqa: F401
import uvicorn
import uvicorn.protocols.http.httptools_impl  # noqa: F401

import dream.node.process
import dream.node.runtime  # noqa: F401

# The zygote and the nodes forked from it leave the terminal's process group: Ctrl-C or a signal sent to
# the group reaches only the daemon, which stops the nodes in order (and nodes exit if it dies).
try:
    import os as _os

    _os.setsid()
except OSError:
    pass
