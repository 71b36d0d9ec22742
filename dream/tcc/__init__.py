"""Taubyte config compiler (TCC): config repo YAML → project object + TNS indexes, and key layout.

The names below load on first use: nodes that only need `dream.tcc.tns_keys` (substrate, seer) should
not pay for the compiler and YAML at start-up.
"""

from __future__ import annotations

from dream.lazy import lazy_names

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

__getattr__ = lazy_names("dream.tcc", _WHERE)
