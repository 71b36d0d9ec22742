"""Every ping_pong template, end to end: dream new project → push-all → PONG over HTTP."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from dream.builders.toolchains import find_toolchains
from dream.testing.harness import UniverseHandle

pytestmark = pytest.mark.e2e

TOOLCHAIN = {
    "go": "go",
    "c": "zig",
    "zig": "zig",
    "rust": "rust",
    "assemblyscript": "assemblyscript",
    "wat": "wat",
}
FOUND = {t.name: t for t in find_toolchains()}


@pytest.fixture(scope="module")
def cloud(module_universe_factory) -> UniverseHandle:  # type: ignore[no-untyped-def]
    return module_universe_factory("templates", shape="pipeline")


def push_all(cloud: UniverseHandle, project_id: str) -> dict[str, Any]:
    return dict(cloud.client.fixture(cloud.name, "pushAll", [project_id, "", ""])["result"])


@pytest.mark.language
@pytest.mark.parametrize("lang", sorted(TOOLCHAIN))
def test_template_answers_pong(cloud: UniverseHandle, tmp_path: Path, lang: str) -> None:
    chain = FOUND.get(TOOLCHAIN[lang])
    if chain is None or not chain.found:
        pytest.skip(
            f"the {TOOLCHAIN[lang]} toolchain is missing: {chain.install_command if chain else 'scripts/toolchains'}"
        )
    project = cloud.client.new_project(cloud.name, f"pp-{lang}", str(tmp_path / lang), lang=lang)
    result = push_all(cloud, project["id"])
    assert [j["status"] for j in result["jobs"]] == ["success", "success"], result
    response = httpx.get(
        f"http://127.0.0.1:{cloud.port('substrate')}/ping", headers={"host": project["fqdn"]}
    )
    assert (response.status_code, response.text) == (200, "PONG")


def test_unchanged_repush_hits_the_cache_and_a_compile_error_fails_the_job(
    cloud: UniverseHandle, tmp_path: Path
) -> None:
    project = cloud.client.new_project(cloud.name, "cachecheck", str(tmp_path / "p"), lang="wat")
    push_all(cloud, project["id"])
    again = push_all(cloud, project["id"])
    assert all(j["status"] == "success" for j in again["jobs"])
    patrick = f"http://127.0.0.1:{cloud.port('patrick')}"
    code_job = httpx.get(f"{patrick}/job/{again['jobs'][1]['job']}").json()
    log = httpx.get(f"{patrick}/logs/{code_job['logs'][code_job['id']]}").text
    assert "from the build cache" in log and "git-clone" not in log  # the same commit: no checkout
    config_job = httpx.get(f"{patrick}/job/{again['jobs'][0]['job']}").json()
    config_log = httpx.get(f"{patrick}/logs/{config_job['logs'][config_job['id']]}").text
    assert "is already the published config" in config_log
    response = httpx.get(
        f"http://127.0.0.1:{cloud.port('substrate')}/ping", headers={"host": project["fqdn"]}
    )
    assert response.text == "PONG"
    source = Path(project["path"]) / "code" / "functions" / "ping_pong" / "main.wat"
    source.write_text(
        source.read_text().replace("(module", "(module (func $broken (unknown_instruction))", 1)
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost"]
    subprocess.run([*git, "commit", "-qam", "break it"], cwd=source.parents[2], check=True)
    subprocess.run([*git, "push", "-q", "origin", "main"], cwd=source.parents[2], check=True)
    failed = push_all(cloud, project["id"])
    code = failed["jobs"][1]
    assert code["status"] == "failed" and "unknown_instruction" in (code["error"] + code.get("log_tail", ""))
    response = httpx.get(
        f"http://127.0.0.1:{cloud.port('substrate')}/ping", headers={"host": project["fqdn"]}
    )
    assert response.text == "PONG"  # the previous build keeps serving
