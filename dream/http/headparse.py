"""The usual request head parsed in one C call (`_native/headparse.c`), or why not.

Built by `scripts/setup-venv` (`python -m dream.wasm.native build`). The HTTP server gives it each read
that holds one whole head and nothing else; it answers a `Request`, or None for any head not plainly of
the usual shape, which httptools then parses as before (with every limit and refusal). Without the
extension, or with `DREAM_HTTP_PARSER=python`, every head goes through httptools' callbacks; the server
says which in one log line.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from typing import Any

log = logging.getLogger("dream.http")

ENV = "DREAM_HTTP_PARSER"  # python: parse every head with httptools' callbacks, even with the extension built

Parse = Callable[[bytes, Any, int, int, int], Any]
_loaded: tuple[Parse | None, str] | None = None


def load() -> tuple[Parse | None, str]:
    """(the C `parse`, "") when it is in use, else (None, why not); decided once per process."""
    global _loaded
    if _loaded is None:
        _loaded = _load()
        parse, why = _loaded
        if parse is None:
            log.info("HTTP request heads are parsed in Python: %s", why)
    return _loaded


def _load() -> tuple[Parse | None, str]:
    if os.environ.get(ENV, "").strip().lower() == "python":
        return None, f"{ENV}=python"
    try:
        module = importlib.import_module("dream.http._headparse")
    except ImportError as exc:
        return None, (
            f"the head parser extension is not built ({exc}); build it with scripts/setup-venv "
            "(it needs gcc and Python's headers)"
        )
    parse: Parse = module.parse
    return parse, ""
