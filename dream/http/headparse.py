"""The usual request head, and the usual upstream response, parsed in one C call (`_native/headparse.c`).

Built by `scripts/setup-venv` (`python -m dream.wasm.native build`). The HTTP server gives `parse` each
read that holds one whole head and nothing else; it answers a `Request`, or None for any head not plainly
of the usual shape, which httptools then parses as before (with every limit and refusal). The upstream
pool (`dream.http.upstream`) gives `parse_response` the first read of a response: one whole response with
a Content-Length and nothing after it comes back as (status, headers, body), anything else goes to
httptools. Without the extension, or with `DREAM_HTTP_PARSER=python`, everything goes through httptools'
callbacks; the first server or pool to ask says which in one log line.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

log = logging.getLogger("dream.http")

ENV = "DREAM_HTTP_PARSER"  # python: parse every head with httptools' callbacks, even with the extension built

Parse = Callable[[bytes, Any, int, int, int], Any]
ParseResponse = Callable[[bytes], tuple[int, list[tuple[bytes, bytes]], bytes] | None]
_loaded: tuple[ModuleType | None, str] | None = None


def parser() -> Parse | None:
    """The C request head parser, when in use."""
    module = load()[0]
    return module.parse if module is not None else None


def response_parser() -> ParseResponse | None:
    """The C upstream response parser, when in use."""
    module = load()[0]
    return module.parse_response if module is not None else None


def load() -> tuple[ModuleType | None, str]:
    """(the extension, "") when it is in use, else (None, why not); decided once per process."""
    global _loaded
    if _loaded is None:
        _loaded = _load()
        module, why = _loaded
        if module is None:
            # Forced: said quietly. Missing: a warning, as the native call path's is.
            say = log.info if why.startswith(ENV) else log.warning
            say("HTTP heads are parsed by httptools alone (slower): %s", why)
    return _loaded


def _load() -> tuple[ModuleType | None, str]:
    return optional_extension(ENV, "dream.http._headparse", "the head parser extension")


def optional_extension(env: str, name: str, what: str) -> tuple[ModuleType | None, str]:
    """(the compiled module `name`, "") unless `env`=python turns it off or it is not built: then
    (None, why not), the sentence a start-up log line gives."""
    if os.environ.get(env, "").strip().lower() == "python":
        return None, f"{env}=python"
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        return None, (
            f"{what} is not built ({exc}); build it with scripts/setup-venv (it needs gcc and Python's headers)"
        )
    return module, ""
