"""Helpers to build small config repos on disk for the TCC tests."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
TUTORIAL_PID = "QmY2orjFfemqX1XQdDoNnLmKm9M1pUdb62tgXcDTfFZR15"
TUTORIAL_DOMAIN_ID = "QmdMtBPyYFfQUTQESz1paKRySPBvkZjeri6eSBsbE3LqHA"
TUTORIAL_FUNCTION_ID = "QmeBgSLuAZbrMcmd5BBXMS1nbL6sSmShNgptkNaWwRQqce"

ProjectMaker = Callable[..., Path]


@pytest.fixture
def make_project(tmp_path: Path) -> ProjectMaker:
    """Copy a data project (or start empty) into tmp and write/replace/delete files in it.

    `files` maps a repo-relative path to YAML text (dedented) or None to delete the file.
    """

    def make(base: str | None = "tutorial", files: dict[str, str | None] | None = None) -> Path:
        root = tmp_path / "config"
        if root.exists():
            shutil.rmtree(root)
        if base:
            shutil.copytree(DATA / base, root)
        else:
            root.mkdir()
        for rel, text in (files or {}).items():
            path = root / rel
            if text is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return root

    return make
