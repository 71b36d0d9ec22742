"""Monkey's builders: turn a function/website directory into an artefact without Docker.

The names below load on first use: each build step runs `python -m dream.builders.step`, and that
process should not pay for every builder's imports before compiling one file.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Builder": "base",
    "BuildResult": "base",
    "build_function": "build",
    "BuildConfig": "config",
    "BuildConfigError": "config",
    "load_build_config": "config",
    "BUILDERS": "images",
    "builder_for_image": "images",
    "supported_images": "images",
    "Toolchain": "toolchains",
    "find_toolchains": "toolchains",
    "warm": "toolchains",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(name)
    return getattr(importlib.import_module(f"dream.builders.{_WHERE[name]}"), name)
