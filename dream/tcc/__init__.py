"""Taubyte config compiler (TCC): config repo YAML → project object + TNS indexes, and key layout.

The names below load on first use: nodes that only need `dream.tcc.tns_keys` (substrate, seer) should
not pay for the compiler and YAML at start-up.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "BuildConfig": "build_config",
    "load_build_config": "build_config",
    "CompiledProject": "compiler",
    "CompiledResource": "compiler",
    "DomainCheck": "compiler",
    "compile_project": "compiler",
    "CompileError": "errors",
    "ConfigError": "errors",
    "publish_plan": "publish",
    "parse_duration": "units",
    "parse_size": "units",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(name)
    return getattr(importlib.import_module(f"dream.tcc.{_WHERE[name]}"), name)
