"""`dream validate`: the compiler monkey runs, run locally; every problem with its file and line."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

from tests.inner_loop.cli import dream

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "fixtures" / "projects" / "hello"
SAME_ID = "QmSameIdInTheProjectAndInBothApplications00001"


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def pubsub_function(source: str) -> str:
    return f"""
        id: {SAME_ID}
        trigger:
          type: pubsub
          channel: orders
        source: {source}
        execution:
          timeout: 5s
          memory: 16MB
          call: handle
        """


def test_a_valid_project_folder_compiles_and_exits_zero() -> None:
    result = dream("validate", str(HELLO))
    assert result.returncode == 0, result.stderr
    assert "compiles: project QmHe11oDreamSamp1eProjectForServingTests0001" in result.stdout
    assert "6 functions" in result.stdout
    as_json = json.loads(dream("validate", str(HELLO / "config"), "--json").stdout)
    assert as_json["ok"] is True
    assert as_json["resources"] == {"domains": 1, "functions": 6, "websites": 1}


def test_a_file_inside_the_repository_validates_the_whole_repository(tmp_path: Path) -> None:
    shutil.copytree(HELLO / "config", tmp_path / "config")
    result = dream("validate", "functions/ping.yaml", cwd=tmp_path / "config")
    assert result.returncode == 0, result.stderr
    assert "6 functions" in result.stdout


def test_the_same_resource_id_in_the_project_scope_and_inside_applications_is_accepted(
    tmp_path: Path,
) -> None:
    # Upstream's own compiler fixtures declare one function id at the project root and in two applications:
    # each is published under its own scope.
    root = write(
        tmp_path / "config",
        {
            "config.yaml": "id: QmProjectWithSharedIds000000000000000000000001\nname: shared\n",
            "libraries/tools.yaml": (
                "id: QmToolsLibrary0000000000000000000000000000001\n"
                "source:\n  path: /\n  branch: main\n  github:\n    id: '123456789'\n    fullname: me/tools\n"
            ),
            "functions/handler.yaml": pubsub_function("libraries/tools"),
            "applications/shop/config.yaml": "id: QmShopApplication00000000000000000000000001\n",
            "applications/shop/functions/handler.yaml": pubsub_function("libraries/tools"),
            "applications/blog/config.yaml": "id: QmBlogApplication00000000000000000000000001\n",
            "applications/blog/functions/handler.yaml": pubsub_function("."),
        },
    )
    result = dream("validate", str(root), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["resources"] == {"functions": 3, "libraries": 1}


def test_a_broken_config_lists_every_problem_with_file_line_and_fix(tmp_path: Path) -> None:
    root = tmp_path / "config"
    shutil.copytree(HELLO / "config", root)
    ping = (root / "functions" / "ping.yaml").read_text()
    write(
        root,
        {
            # Three problems in three files, and one YAML syntax error: all are reported in one run.
            "functions/ping.yaml": ping.replace("timeout: 10s", "timeout: 10x"),
            "functions/dup.yaml": (root / "functions" / "echo.yaml").read_text().replace("/echo", "/echo2"),
            "functions/broken.yaml": "id: QmBroken\ntrigger:\n  type: http\n   method: GET\n",
            "domains/other.yaml": "id: QmOtherDomain0000000000000000000000000000001\n",
        },
    )
    result = dream("validate", str(root))
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    problems = [line for line in lines if not line.startswith("[ERROR]")]
    assert len(problems) == 4, result.stderr
    by_file = {"/".join(line.split(":", 1)[0].split("/")[-2:]): line for line in problems}
    assert set(by_file) == {
        "domains/other.yaml",
        "functions/broken.yaml",
        "functions/echo.yaml",
        "functions/ping.yaml",
    }
    assert "YAML syntax error" in by_file["functions/broken.yaml"]
    assert "fix the indentation or quoting" in by_file["functions/broken.yaml"]
    assert (
        "is already used by functions/dup.yaml; every resource needs its own id"
        in by_file["functions/echo.yaml"]
    )
    assert (
        "other.yaml:1: fqdn: is missing; a domain needs its fully qualified name"
        in by_file["domains/other.yaml"]
    )
    assert "is not a duration (example:" in by_file["functions/ping.yaml"]
    assert lines[-1] == f"[ERROR] 4 problems in 4 files of {root}"

    report = json.loads(dream("validate", str(root), "--json").stdout)
    assert report["ok"] is False
    assert [p["file"] for p in report["problems"]] == sorted(by_file)
    for problem in report["problems"]:
        assert isinstance(problem["line"], int) and problem["line"] >= 1, problem
        # The line shown is the line of the key at fault in that file.
        text = (root / problem["file"]).read_text().splitlines()
        if problem["key"] == "execution.timeout":
            assert problem["key"].split(".")[-1] in text[problem["line"] - 1], problem
    ping_problem = next(p for p in report["problems"] if p["file"] == "functions/ping.yaml")
    assert ping_problem["key"] == "execution.timeout"


def test_a_missing_repository_is_one_clear_problem(tmp_path: Path) -> None:
    result = dream("validate", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert "does not exist; pass a config repository or a project folder holding config/" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = dream("validate", str(empty), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["problems"][0]["file"] == "config.yaml"
    assert "a config repo needs it" in report["problems"][0]["message"]
