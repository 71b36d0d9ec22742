"""Monkey's builders: turn a function/website directory into an artefact without Docker.

The names below load on first use: each build step runs `python -m dream.builders.step`, and that
process should not pay for every builder's imports before compiling one file.
"""

from __future__ import annotations

from dream.lazy import lazy_names

_WHERE = {
    "Builder": "images",
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

__getattr__ = lazy_names("dream.builders", _WHERE)
