"""Taubyte config compiler (TCC): config repo YAML → project object + TNS indexes, and key layout."""

from __future__ import annotations

from dream.tcc.build_config import BuildConfig, load_build_config
from dream.tcc.compiler import CompiledProject, CompiledResource, DomainCheck, compile_project
from dream.tcc.errors import CompileError, ConfigError
from dream.tcc.publish import publish_plan
from dream.tcc.units import parse_duration, parse_size

__all__ = [
    "BuildConfig",
    "CompileError",
    "CompiledProject",
    "CompiledResource",
    "ConfigError",
    "DomainCheck",
    "compile_project",
    "load_build_config",
    "parse_duration",
    "parse_size",
    "publish_plan",
]
