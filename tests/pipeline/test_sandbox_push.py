"""A git push whose build.sh tries to escape its sandbox: the job fails saying what was blocked, and the
deployment before it keeps serving (docs/security.md, ## Builds)."""

from __future__ import annotations

import functools
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from dream.builders.sandbox import NOTE
from dream.testing import harness
from dream.testing.harness import DaemonProcess, UniverseHandle, git
from tests.pipeline.shapes import push_shape

pytestmark = pytest.mark.e2e

SHAPE = push_shape()
wait_for = functools.partial(harness.wait_for, timeout=60.0, every=0.05)


@pytest.fixture(scope="module")
def cloud(module_universe_factory) -> UniverseHandle:  # type: ignore[no-untyped-def]
    return module_universe_factory("sandboxpush", config=SHAPE)


def ping(cloud: UniverseHandle, fqdn: str) -> str:
    return httpx.get(f"http://127.0.0.1:{cloud.port('substrate')}/ping", headers={"host": fqdn}).text


def test_an_escaping_build_fails_with_the_sandbox_message_and_the_old_build_keeps_serving(
    cloud: UniverseHandle, dream_daemon: DaemonProcess, tmp_path: Path
) -> None:
    project = cloud.client.new_project(cloud.name, "escape", str(tmp_path / "escape"), lang="wat")
    result = cloud.client.fixture(cloud.name, "pushAll", [project["id"], "", ""])["result"]
    assert [job["status"] for job in result["jobs"]] == ["success", "success"], result
    assert ping(cloud, project["fqdn"]) == "PONG"

    secret = dream_daemon.home / f"secret-{uuid.uuid4().hex[:8]}"
    secret.write_text("DREAM-HOME-SECRET")
    try:
        code = Path(project["path"]) / "code"
        function = code / "functions" / "ping_pong"
        build, source = function / ".taubyte" / "build.sh", function / "main.wat"
        connect = f"import socket; socket.create_connection(('127.0.0.1', {dream_daemon.port}), timeout=5)"
        # Reads the dream home and calls the daemon; were either allowed, the function would answer EVIL.
        escape = (
            f'ok=0\ncat {secret} || ok=1\n"$DREAM_PYTHON" -c "{connect}" || ok=1\n[ "$ok" = 0 ] || exit 1\n'
        )
        build.write_text(escape + build.read_text())
        source.write_text(re.sub(r'"PONG"', '"EVIL"', source.read_text()))
        git("commit", "-qam", "escape the sandbox", cwd=code)
        git("push", "-q", "origin", "main", cwd=code)
        pushed = git("rev-parse", "HEAD", cwd=code)
        patrick = f"http://127.0.0.1:{cloud.port('patrick')}"

        def finished() -> dict[str, Any] | None:
            jobs = httpx.get(f"{patrick}/jobs/{project['id']}").json()["jobs"]
            done = [j for j in jobs if j["meta"]["after"] == pushed and j["status"] not in ("open", "locked")]
            return done[0] if done else None

        job = wait_for(finished, what="the escaping push's job to be reported")
        assert job["status"] == "failed", job
        assert NOTE in job["error"]
        assert "blocked: network access" in job["error"]
        assert f"blocked: {secret} is outside the sandbox" in job["error"]
        log = httpx.get(f"{patrick}/logs/{job['logs'][job['id']]}").text
        assert "sandbox: bubblewrap; no network" in log and "DREAM-HOME-SECRET" not in log
        assert ping(cloud, project["fqdn"]) == "PONG"
    finally:
        secret.unlink(missing_ok=True)
