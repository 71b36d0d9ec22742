"""Read a config repo from disk into YAML trees that remember the line of every key.

Layout: root `config.yaml`, one folder per resource kind (`functions/<name>.yaml`, ...), and
`applications/<app>/config.yaml` with the same folders nested. A resource's name is its file stem.
Problems (unreadable files, YAML syntax errors, a file that is not a mapping) are collected as
`ConfigError`s with the file and line, so one run reports all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dream.tcc.errors import ConfigError

RESOURCE_KINDS: tuple[str, ...] = (
    "domains",
    "libraries",
    "smartops",
    "functions",
    "websites",
    "databases",
    "storages",
    "messaging",
    "services",
)
PROJECT_FILE = "config.yaml"
APPLICATIONS_DIR = "applications"
YAML_SUFFIXES = (".yaml", ".yml")


class LineDict(dict[str, Any]):
    """A YAML mapping that also knows where it and each of its keys start (1-based lines)."""

    line: int | None = None
    key_lines: dict[str, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines = {}


class LineList(list[Any]):
    """A YAML sequence that knows the line of each item (1-based)."""

    line: int | None = None
    item_lines: list[int]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_lines = []


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings and sequences carry the source lines of their entries."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        # YAML allows `1: x` or `true: x`; configs use string keys, so normalise to find them.
        name = key if isinstance(key, str) else str(key).lower() if isinstance(key, bool) else str(key)
        result[name] = loader.construct_object(value_node, deep=True)
        result.key_lines[name] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml_text(text: str, *, file: str) -> Any:
    """Parse YAML, turning syntax errors into a located `ConfigError`."""
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = error.problem or error.context or "invalid YAML"
        raise ConfigError(
            f"YAML syntax error: {problem}; fix the indentation or quoting there", file=file, line=line
        ) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"YAML error: {error}", file=file) from None


def load_mapping(path: Path, *, file: str) -> LineDict:
    """A YAML file that must hold a mapping (an empty file counts as an empty one)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"cannot read the file ({error}); make it a readable UTF-8 text file", file=file
        ) from None
    data = load_yaml_text(text, file=file)
    if data is None:
        empty = LineDict()
        empty.line = 1
        return empty
    if not isinstance(data, LineDict):
        raise ConfigError(
            f"the file holds {'a list' if isinstance(data, list) else 'a single value'}, not a mapping of keys; "
            "write it as `key: value` lines",
            file=file,
            line=1,
        )
    return data


@dataclass
class ResourceFile:
    """One resource YAML file: `kind` is its folder (`functions`), `name` its file stem."""

    kind: str
    name: str
    file: str
    data: LineDict
    app: str | None = None


@dataclass
class Scope:
    """The project root or one application: its config file plus its resources by kind."""

    file: str
    data: LineDict | None
    app: str | None = None
    resources: dict[str, list[ResourceFile]] = field(default_factory=dict)


@dataclass
class ProjectTree:
    root: Path
    project: Scope
    applications: list[Scope]
    errors: list[ConfigError]


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _load_scope(root: Path, base: Path, app: str | None, errors: list[ConfigError]) -> Scope:
    config_path = base / PROJECT_FILE
    file = _relative(root, config_path)
    data: LineDict | None = None
    if not config_path.is_file():
        what = "project" if app is None else f"application `{app}`"
        errors.append(
            ConfigError(
                f"missing {what} file {file}; a config repo needs it (with at least `id:`)", file=file
            )
        )
    else:
        try:
            data = load_mapping(config_path, file=file)
        except ConfigError as error:
            errors.append(error)
    scope = Scope(file=file, data=data, app=app)
    for kind in RESOURCE_KINDS:
        folder = base / kind
        found: list[ResourceFile] = []
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.name.startswith(".") or not path.is_file() or path.suffix not in YAML_SUFFIXES:
                    continue
                rel = _relative(root, path)
                try:
                    found.append(ResourceFile(kind, path.stem, rel, load_mapping(path, file=rel), app))
                except ConfigError as error:
                    errors.append(error)
        scope.resources[kind] = found
    return scope


def load_project(config_dir: Path) -> ProjectTree:
    """Every YAML file of a config repo; problems are in `.errors` rather than raised."""
    root = Path(config_dir)
    errors: list[ConfigError] = []
    if not root.is_dir():
        raise ConfigError(
            f"config repo directory {root} does not exist; pass the path of a cloned config repo"
        )
    project = _load_scope(root, root, None, errors)
    applications: list[Scope] = []
    apps_dir = root / APPLICATIONS_DIR
    if apps_dir.is_dir():
        for app_dir in sorted(apps_dir.iterdir()):
            if app_dir.is_dir() and not app_dir.name.startswith("."):
                applications.append(_load_scope(root, app_dir, app_dir.name, errors))
    return ProjectTree(root=root, project=project, applications=applications, errors=errors)
