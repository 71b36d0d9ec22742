from __future__ import annotations

from pathlib import Path

import pytest

from dream.tcc import CompileError, compile_project
from dream.tcc.errors import CompileError as CompileErrorType
from dream.tcc.errors import ConfigError
from dream.tcc.loader import LineDict, load_project, load_yaml_text
from tests.tcc.conftest import ProjectMaker

PING = "id: {id}\ntrigger: {{type: pubsub, channel: c}}\nexecution: {{timeout: 1s, memory: 1MB, call: x}}\n"


def test_lines_of_keys_and_items() -> None:
    data = load_yaml_text("id: x\ntrigger:\n  type: https\n  paths:\n    - /a\n    - /b\n", file="f.yaml")
    assert isinstance(data, LineDict)
    assert data.key_lines == {"id": 1, "trigger": 2}
    assert data["trigger"].key_lines == {"type": 3, "paths": 4}
    assert data["trigger"]["paths"].item_lines == [5, 6]
    assert data == {"id": "x", "trigger": {"type": "https", "paths": ["/a", "/b"]}}


def test_syntax_error_is_located() -> None:
    with pytest.raises(ConfigError) as caught:
        load_yaml_text("id: x\ntrigger:\n  type: http\n bad: indent\n", file="functions/f.yaml")
    assert caught.value.file == "functions/f.yaml" and caught.value.line == 4
    assert str(caught.value).startswith("functions/f.yaml:4: YAML syntax error: ")


def test_resource_names_are_file_stems_and_yml_is_read(make_project: ProjectMaker) -> None:
    root = make_project(
        files={
            "functions/second.yml": PING.format(id="QmSecond"),
            "functions/.hidden.yaml": "not: [valid",
            "functions/README.md": "# not yaml",
        }
    )
    tree = load_project(root)
    assert tree.errors == []
    assert [r.name for r in tree.project.resources["functions"]] == ["ping_pong", "second"]
    compiled = compile_project(root, branch="main", commit="c")
    assert compiled.object["functions"]["QmSecond"]["name"] == "second"


def test_same_name_twice(make_project: ProjectMaker) -> None:
    root = make_project(files={"functions/ping_pong.yml": PING.format(id="QmOther")})
    with pytest.raises(CompileError) as caught:
        compile_project(root, branch="main", commit="c")
    assert str(caught.value) == (
        "functions/ping_pong.yml:1: functions/ping_pong.yaml has the same name; keep one of the two files"
    )


def test_empty_resource_file_reports_missing_fields(make_project: ProjectMaker) -> None:
    root = make_project(files={"services/empty.yaml": ""})
    with pytest.raises(CompileErrorType) as caught:
        compile_project(root, branch="main", commit="c")
    lines = str(caught.value).splitlines()
    assert lines[0].startswith("services/empty.yaml:1: id: the resource has no id;")
    assert (
        lines[1]
        == "services/empty.yaml:1: protocol: is missing; it is required (example: protocol: /my-service/v1)"
    )


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; pass the path of a cloned config repo"):
        load_project(tmp_path / "nope")
