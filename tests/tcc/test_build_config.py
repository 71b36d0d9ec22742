from __future__ import annotations

from pathlib import Path

import pytest

from dream.tcc import BuildConfig, CompileError, ConfigError, load_build_config

TEMPLATE = (
    "version: 1.00\nenvironment:\n  image: taubyte/go-wasi:latest\n  variables:\nworkflow:\n  - build\n"
)


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_template_config(tmp_path: Path) -> None:
    root = write(tmp_path, {".taubyte/config.yaml": TEMPLATE, ".taubyte/build.sh": "#!/bin/sh\n"})
    config = load_build_config(root)
    assert config == BuildConfig(
        version="1",  # YAML reads 1.00 as a float
        image="taubyte/go-wasi:latest",
        variables={},
        workflow=["build"],
        config_file=root / ".taubyte" / "config.yaml",
    )
    assert config.config_dir == root / ".taubyte"


def test_misspelt_environment_variables_and_fallback_folder(tmp_path: Path) -> None:
    text = (
        "version: '1.00'\nenviroment:\n  image: node:16.18.0-alpine\n  variables:\n    PORT: 8080\n"
        "    DEBUG: true\n    EMPTY:\nworkflow: [install, build]\n"
    )
    root = write(tmp_path, {"taubyte/config.yaml": text, "taubyte/install.sh": "", "taubyte/build.sh": ""})
    config = load_build_config(root)
    assert config.version == "1.00" and config.image == "node:16.18.0-alpine"
    assert config.variables == {"PORT": "8080", "DEBUG": "true", "EMPTY": ""}
    assert config.workflow == ["install", "build"]
    assert config.config_file == root / "taubyte" / "config.yaml"


def test_dot_taubyte_wins_over_fallback(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            ".taubyte/config.yaml": TEMPLATE,
            ".taubyte/build.sh": "",
            "taubyte/config.yaml": TEMPLATE.replace("go-wasi", "rust-wasi"),
        },
    )
    assert load_build_config(root).image == "taubyte/go-wasi:latest"


def test_missing_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_build_config(tmp_path)
    assert str(caught.value) == (
        f"no build config in {tmp_path}: expected .taubyte/config.yaml with `environment.image` and `workflow` "
        "(example image: taubyte/go-wasi:latest, workflow: [build])"
    )


def test_all_problems_listed(tmp_path: Path) -> None:
    text = "version: 1\nenvironment:\n  variables: [a]\nworkflow:\n  - build\n  - test\n"
    root = write(tmp_path, {".taubyte/config.yaml": text, ".taubyte/build.sh": ""})
    with pytest.raises(CompileError) as caught:
        load_build_config(root)
    assert str(caught.value).splitlines() == [
        ".taubyte/config.yaml:2: environment.image: is missing; it is required (example: image: taubyte/go-wasi:latest)",
        ".taubyte/config.yaml:3: environment.variables: must be a mapping of NAME: value lines",
        '.taubyte/config.yaml:6: workflow: step "test" has no script: add .taubyte/test.sh or remove the step',
    ]


def test_missing_workflow(tmp_path: Path) -> None:
    root = write(tmp_path, {".taubyte/config.yaml": "environment: {image: x}\n"})
    with pytest.raises(CompileError) as caught:
        load_build_config(root)
    assert str(caught.value) == (
        ".taubyte/config.yaml:1: workflow: is missing; list the build steps, each a .taubyte/<step>.sh script "
        "(example: [build])"
    )


def test_yaml_syntax_error(tmp_path: Path) -> None:
    root = write(tmp_path, {".taubyte/config.yaml": "environment:\n  image: [x\n"})
    with pytest.raises(ConfigError, match=r"^\.taubyte/config\.yaml:3: YAML syntax error"):
        load_build_config(root)
