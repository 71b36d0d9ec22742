"""Monkey's builders: turn a function/website directory into an artefact without Docker."""

from __future__ import annotations

from dream.monkey.builders.base import Builder, BuildResult
from dream.monkey.builders.build import build_function
from dream.monkey.builders.config import BuildConfig, BuildConfigError, load_build_config
from dream.monkey.builders.images import BUILDERS, builder_for_image, supported_images
from dream.monkey.builders.toolchains import Toolchain, find_toolchains, warm

__all__ = [
    "BUILDERS",
    "BuildConfig",
    "BuildConfigError",
    "BuildResult",
    "Builder",
    "Toolchain",
    "build_function",
    "builder_for_image",
    "find_toolchains",
    "load_build_config",
    "supported_images",
    "warm",
]
