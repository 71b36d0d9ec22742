"""The daemon's MCP server, driven by the `mcp` SDK's own client over streamable HTTP: list the tools,
create a project, push it and wait for its builds, call its function, read the inspector, a log and the
jobs; bad arguments get an error result and the daemon goes on. Without the daemon's token, nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from dream.testing.harness import DaemonProcess, UniverseHandle
from tests.console.helpers import data, run_dream, with_client

pytestmark = pytest.mark.e2e

TOOLS = {
    "list_universes",
    "universe_status",
    "create_universe",
    "start_universe",
    "stop_universe",
    "delete_universe",
    "list_projects",
    "project_details",
    "disk_usage",
    "create_project",
    "push",
    "call_function",
    "read_log",
    "list_jobs",
    "read_requests",
}


def error_text(result: Any) -> str:
    assert result.is_error, result
    return " ".join(getattr(c, "text", "") for c in result.content)


def test_without_the_token_mcp_is_refused(dream_daemon: DaemonProcess) -> None:
    hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    refused = httpx.post(f"{dream_daemon.url}/mcp", json=hello)
    assert refused.status_code == 401 and "needs the daemon's token" in refused.json()["error"]
    wrong = httpx.post(f"{dream_daemon.url}/mcp", json=hello, headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 403
    got = httpx.get(f"{dream_daemon.url}/mcp")
    assert got.status_code == 405 and "answers POST only" in got.json()["error"]


def test_an_agent_closes_the_loop(dream_daemon: DaemonProcess, console_cloud: UniverseHandle) -> None:
    u = console_cloud.name

    async def use(client: Any) -> dict[str, Any]:
        listed = await client.list_tools()
        seen: dict[str, Any] = {}
        seen["tools"] = {tool.name: tool for tool in listed.tools}
        seen["universes"] = data(await client.call_tool("list_universes", {}))
        seen["created"] = data(
            await client.call_tool("create_project", {"universe": u, "name": "agent", "language": "wat"})
        )
        seen["pushed"] = data(await client.call_tool("push", {"universe": u, "project": "agent"}))
        seen["details"] = data(await client.call_tool("project_details", {"universe": u, "project": "agent"}))
        (function,) = seen["details"]["functions"]
        seen["called"] = data(
            await client.call_tool(
                "call_function", {"universe": u, "host": function["fqdn"], "path": function["path"]}
            )
        )
        seen["requests"] = data(
            await client.call_tool("read_requests", {"universe": u, "function": "ping_pong", "limit": 5})
        )
        seen["log"] = data(await client.call_tool("read_log", {"universe": u, "node": "substrate"}))
        seen["log_more"] = data(
            await client.call_tool(
                "read_log", {"universe": u, "node": "substrate", "offset": seen["log"]["offset"]}
            )
        )
        seen["jobs"] = data(await client.call_tool("list_jobs", {"universe": u}))
        code_job = next(j["id"] for j in seen["jobs"] if j["repository"] == "dream/tb_code_agent")
        seen["job_log"] = data(await client.call_tool("read_log", {"universe": u, "job": code_job}))
        seen["job_log_end"] = data(
            await client.call_tool(
                "read_log", {"universe": u, "job": code_job, "offset": seen["job_log"]["offset"]}
            )
        )
        seen["status"] = data(await client.call_tool("universe_status", {"universe": u}))
        seen["disk"] = data(await client.call_tool("disk_usage", {"universe": u}))
        seen["specific"] = data(
            await client.call_tool(
                "push", {"universe": u, "project": "agent", "repository": "dream/tb_code_agent"}
            )
        )
        return seen

    seen = with_client(dream_daemon, use)
    assert set(seen["tools"]) == TOOLS
    for tool in seen["tools"].values():
        assert tool.description and len(tool.description) > 40, tool.name
        assert tool.input_schema["type"] == "object"
    call_schema = seen["tools"]["call_function"].input_schema
    assert set(call_schema["required"]) == {"universe", "host"}
    assert call_schema["properties"]["method"]["enum"][:2] == ["GET", "POST"]
    assert "fqdn" in call_schema["properties"]["host"]["description"]

    assert any(x["name"] == u for x in seen["universes"])
    assert seen["created"]["name"] == "agent"
    assert seen["pushed"]["ok"] and [b["status"] for b in seen["pushed"]["builds"]] == ["success", "success"]
    assert (seen["called"]["status"], seen["called"]["body"]) == (200, "PONG")
    records = seen["requests"]["requests"]
    assert (
        records
        and records[-1]["function"] == "ping_pong"
        and records[-1]["host"] == seen["details"]["functions"][0]["fqdn"]
    )
    assert seen["log"]["text"] and seen["log"]["offset"] > 0
    assert seen["log_more"]["offset"] >= seen["log"]["offset"]
    assert any(j["repository"] == "dream/tb_code_agent" and j["status"] == "success" for j in seen["jobs"])
    assert seen["job_log"]["status"] == "success" and seen["job_log"]["done"]
    assert "building functions/ping_pong" in seen["job_log"]["text"]
    assert "job succeeded" in seen["job_log"]["text"].rstrip().splitlines()[-1]
    assert seen["job_log_end"]["text"] == "" and seen["job_log_end"]["offset"] == seen["job_log"]["offset"]
    assert seen["status"]["state"] == "running"
    assert seen["disk"][u] > 0
    assert seen["specific"]["ok"] and len(seen["specific"]["builds"]) == 1


def test_bad_arguments_get_an_error_result(
    dream_daemon: DaemonProcess, console_cloud: UniverseHandle
) -> None:
    u = console_cloud.name

    async def use(client: Any) -> dict[str, str]:
        return {
            "missing": error_text(await client.call_tool("call_function", {"universe": u})),
            "wrong type": error_text(
                await client.call_tool("read_log", {"universe": u, "node": "substrate", "offset": "far"})
            ),
            "negative": error_text(
                await client.call_tool("read_log", {"universe": u, "node": "substrate", "offset": -1})
            ),
            "no universe": error_text(
                await client.call_tool("read_log", {"universe": "nowhere", "node": "x"})
            ),
            "no node": error_text(await client.call_tool("read_log", {"universe": u, "node": "nothing"})),
            "no job": error_text(
                await client.call_tool("read_log", {"universe": u, "job": "job-000000000000000000000000"})
            ),
            "neither": error_text(await client.call_tool("read_log", {"universe": u})),
            "both": error_text(
                await client.call_tool("read_log", {"universe": u, "node": "substrate", "job": "job-1"})
            ),
            "not a job id": error_text(
                await client.call_tool("read_log", {"universe": u, "job": "../../etc/passwd"})
            ),
            "language": error_text(
                await client.call_tool(
                    "create_project", {"universe": u, "name": "cobolled", "language": "cobol"}
                )
            ),
            "template": error_text(
                await client.call_tool(
                    "create_project", {"universe": u, "name": "templated", "template": "nope"}
                )
            ),
            "project": error_text(await client.call_tool("push", {"universe": u, "project": "ghost"})),
            "method": error_text(
                await client.call_tool(
                    "call_function", {"universe": u, "host": "x.example", "method": "BREW"}
                )
            ),
        }

    errors = with_client(dream_daemon, use)
    assert "host" in errors["missing"] and "required" in errors["missing"].lower()
    assert "offset" in errors["wrong type"]
    assert "offset" in errors["negative"]
    assert "universe `nowhere` does not exist" in errors["no universe"]
    assert f"no node `nothing` in universe `{u}`" in errors["no node"]
    assert f"no job `job-000000000000000000000000` in universe `{u}`" in errors["no job"]
    assert "`../../etc/passwd` is not a job id (job-<hex>)" in errors["not a job id"]
    for which in ("neither", "both"):
        assert "name either a `node` or a `job`" in errors[which]
    assert "no `ping_pong` template in `cobol`" in errors["language"]
    assert "no template `nope`" in errors["template"]
    assert f"no project `ghost` in universe `{u}`" in errors["project"]
    assert "method" in errors["method"]
    assert dream_daemon.client().ping()


def test_dream_mcp_prints_the_client_configuration(dream_daemon: DaemonProcess) -> None:
    shown = run_dream(dream_daemon, "mcp", "--client", "vscode")
    assert shown.returncode == 0, shown.stderr
    config = json.loads(shown.stdout)["servers"]["dream"]
    assert config["url"] == f"{dream_daemon.url}/mcp"
    assert config["headers"]["Authorization"] == f"Bearer {dream_daemon.token}"
    every = run_dream(dream_daemon, "mcp")
    assert "claude mcp add --transport http dream" in every.stdout and "Cursor" in every.stdout


def test_a_failed_build_comes_back_with_its_log_tail_then_is_retried_from_the_dashboard(
    dream_daemon: DaemonProcess, console_cloud: UniverseHandle
) -> None:
    from pathlib import Path

    from dream.testing.harness import git

    u = console_cloud.name

    async def create(client: Any) -> Any:
        made = data(
            await client.call_tool("create_project", {"universe": u, "name": "broken", "language": "wat"})
        )
        first = data(await client.call_tool("push", {"universe": u, "project": "broken"}))
        return made, first

    created, first = with_client(dream_daemon, create)
    assert first["ok"]
    code = Path(created["path"]) / "code"
    source = code / "functions" / "ping_pong" / "main.wat"
    source.write_text("(module (this is not wat")
    git("commit", "-qam", "break the build", cwd=code)
    git("push", "-q", "origin", "main", cwd=code)

    async def push(client: Any) -> Any:
        return data(
            await client.call_tool(
                "push", {"universe": u, "project": "broken", "repository": "dream/tb_code_broken"}
            )
        )

    pushed = with_client(dream_daemon, push)
    assert not pushed["ok"] and pushed["failed"] == 1
    (build,) = pushed["builds"]
    assert build["status"] == "failed" and build["error"]
    assert "wat" in build["log_tail"].lower() and "ERROR" in build["log_tail"], build["log_tail"]

    # Retry it from the dashboard's route; a build that succeeded cannot be retried.
    url = f"{dream_daemon.url}/console/job/{u}/{build['job']}"
    retried = httpx.post(f"{url}/retry", headers=dream_daemon.auth())
    assert retried.status_code == 200 and retried.json() == {"job": build["job"], "status": "open"}
    good = first["builds"][0]
    refused = httpx.post(
        f"{dream_daemon.url}/console/job/{u}/{good['job']}/retry", headers=dream_daemon.auth()
    )
    assert refused.status_code == 400
    assert "only failed or cancelled jobs can be retried" in refused.json()["error"]
    unknown = httpx.post(
        f"{dream_daemon.url}/console/job/{u}/{good['job']}/explode", headers=dream_daemon.auth()
    )
    assert (
        unknown.status_code == 400
        and "no job action `explode`: use cancel or retry" in unknown.json()["error"]
    )
