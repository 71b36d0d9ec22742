"""Reads a function/website directory's `.taubyte/config.yaml` (the upstream build definition)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CONFIG_DIRS = (".taubyte", "taubyte")


class BuildConfigError(Exception):
    """The build definition is missing or malformed; the message says where and how to fix it."""


@dataclass(frozen=True)
class BuildConfig:
    """Same fields as `dream.tcc.build_config.BuildConfig`, so either can be passed to a builder."""

    version: str
    image: str
    variables: dict[str, str] = field(default_factory=dict)
    workflow: tuple[str, ...] = ()
    config_file: Path | None = None


def _find_config(src_dir: Path) -> Path | None:
    for name in CONFIG_DIRS:
        for ext in ("yaml", "yml"):
            candidate = src_dir / name / f"config.{ext}"
            if candidate.is_file():
                return candidate
    return None


def _local_load(src_dir: Path) -> BuildConfig:
    path = _find_config(src_dir)
    if path is None:
        raise BuildConfigError(
            f"{src_dir} has no .taubyte/config.yaml; add one with `environment: {{image: ...}}` and `workflow: [build]`"
        )
    try:
        data: Any = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise BuildConfigError(f"{path} is not valid YAML ({exc}); fix the syntax and push again") from None
    if not isinstance(data, dict):
        raise BuildConfigError(f"{path} must be a YAML mapping with version, environment and workflow")
    # Upstream accepts the misspelt `enviroment` too.
    env = data.get("environment", data.get("enviroment")) or {}
    if not isinstance(env, dict) or not env.get("image"):
        raise BuildConfigError(f"{path} has no environment.image; set e.g. `image: taubyte/go-wasi:latest`")
    variables = env.get("variables") or {}
    if not isinstance(variables, dict):
        raise BuildConfigError(f"{path}: environment.variables must be a mapping of NAME: value")
    workflow = data.get("workflow") or []
    if isinstance(workflow, str):
        workflow = [workflow]
    if not isinstance(workflow, list) or not all(isinstance(s, str) and s for s in workflow):
        raise BuildConfigError(f"{path}: workflow must be a list of step names such as [build]")
    return BuildConfig(
        version=str(data.get("version", "")),
        image=str(env["image"]),
        variables={str(k): "" if v is None else str(v) for k, v in variables.items()},
        workflow=tuple(workflow),
        config_file=path,
    )


def load_build_config(src_dir: Path) -> BuildConfig:
    """Prefer the project's shared parser (dream.tcc) when it exists; fall back to ours."""
    try:
        from dream.tcc.build_config import load_build_config as shared_load
    except ImportError:
        return _local_load(src_dir)
    try:
        cfg = shared_load(src_dir)
    except Exception as exc:  # their error type is theirs; keep the message, which is meant for users
        raise BuildConfigError(str(exc)) from None
    return BuildConfig(
        version=str(cfg.version),
        image=str(cfg.image),
        variables={str(k): str(v) for k, v in dict(cfg.variables or {}).items()},
        workflow=tuple(cfg.workflow or ()),
        config_file=cfg.config_file,
    )
