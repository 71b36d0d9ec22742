"""A code-repo build directory's `.taubyte/config.yaml` (fallback `taubyte/config.yaml`).

Keys: `version`, `environment: {image, variables}` (the misspelling `enviroment` is accepted, as
upstream does), and `workflow: [step, ...]` where each step runs `.taubyte/<step>.sh`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dream.tcc.errors import CompileError, ConfigError
from dream.tcc.loader import LineDict, load_mapping
from dream.tcc.schema import Fields

CONFIG_DIRS = (".taubyte", "taubyte")
CONFIG_NAME = "config.yaml"
IMAGE_EXAMPLE = "taubyte/go-wasi:latest"


@dataclass
class BuildConfig:
    version: str
    image: str
    variables: dict[str, str] = field(default_factory=dict)
    workflow: list[str] = field(default_factory=list)
    config_file: Path | None = None

    @property
    def config_dir(self) -> Path | None:
        """The folder holding config.yaml and the step scripts."""
        return self.config_file.parent if self.config_file else None


def _variables(fields: Fields, key: str) -> dict[str, str]:
    value = fields.raw(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        fields.error(key, "must be a mapping of NAME: value lines")
        return {}
    out: dict[str, str] = {}
    for name, item in value.items():
        if isinstance(item, dict | list):
            fields.error(f"{key}.{name}", "must be a single value (environment variables are strings)")
        else:
            out[str(name)] = (
                "" if item is None else ("true" if item is True else "false" if item is False else str(item))
            )
    return out


def load_build_config(directory: Path) -> BuildConfig:
    """Read and check the build config of one function/website/library directory.

    Raises `ConfigError` when there is no config, `CompileError` listing every problem otherwise.
    """
    root = Path(directory)
    candidates = [root / name / CONFIG_NAME for name in CONFIG_DIRS]
    config_path = next((path for path in candidates if path.is_file()), None)
    if config_path is None:
        raise ConfigError(
            f"no build config in {root}: expected .taubyte/config.yaml with `environment.image` and "
            f"`workflow` (example image: {IMAGE_EXAMPLE}, workflow: [build])"
        )
    file = config_path.relative_to(root).as_posix()
    data: LineDict = load_mapping(config_path, file=file)
    errors: list[ConfigError] = []
    fields = Fields(data, file, errors)
    env_key = "environment" if "environment" in data or "enviroment" not in data else "enviroment"
    fields.mapping(env_key)
    image = fields.text(f"{env_key}.image", required=True, example=IMAGE_EXAMPLE).strip()
    variables = _variables(fields, f"{env_key}.variables")
    workflow = fields.text_list("workflow")
    if not workflow:
        fields.error(
            "workflow",
            "is missing; list the build steps, each a .taubyte/<step>.sh script (example: [build])",
        )
    for index, step in enumerate(workflow):
        script = config_path.parent / f"{step}.sh"
        if "/" in step or not script.is_file():
            fields.error(
                "workflow",
                f'step "{step}" has no script: add {config_path.parent.name}/{step}.sh or remove the step',
                fields.item_line("workflow", index),
            )
    if errors:
        raise CompileError(errors)
    return BuildConfig(
        version=fields.text("version", default="1.00"),
        image=image,
        variables=variables,
        workflow=workflow,
        config_file=config_path,
    )
