"""The dashboard's routes without a browser: bad universes and nodes in URLs, the session rules, the
pages' security headers, and the daemon's start-up left without the MCP SDK."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import pytest

from dream.testing.harness import DaemonProcess, UniverseHandle
from tests.console.helpers import run_dream

pytestmark = pytest.mark.e2e

HTML = {"accept": "text/html"}


def test_unknown_universes_and_nodes_in_urls_get_a_sentence(
    dream_daemon: DaemonProcess, console_cloud: UniverseHandle
) -> None:
    url, auth, u = dream_daemon.url, dream_daemon.auth(), console_cloud.name
    page = httpx.get(f"{url}/console/u/nowhere", headers=HTML)
    assert page.status_code == 404 and "universe `nowhere` does not exist" in page.text
    for path in (
        "/console/events/nowhere",
        "/console/logs/nowhere/substrate",
        "/console/job-log/nowhere/job-1",
        "/console/job-log-events/nowhere/job-1",
        "/jobs/nowhere",
        "/jobs/nowhere/job-1/log",
    ):
        answer = httpx.get(url + path)
        assert (answer.status_code, answer.json()["error"]) == (400, "universe `nowhere` does not exist"), (
            path
        )
    logs = httpx.get(f"{url}/console/logs/{u}/nothing")
    assert logs.status_code == 400 and f"no node `nothing` in universe `{u}` (nodes: " in logs.json()["error"]
    kill = httpx.post(f"{url}/console/kill/{u}/nothing", headers=auth)
    assert (
        kill.status_code == 400 and f"no node `nothing` in universe `{u}` (node ids: " in kill.json()["error"]
    )
    call = httpx.post(
        f"{url}/console/call/{u}", headers=auth, json={"host": "x.example", "via": "carrier-pigeon"}
    )
    assert call.status_code == 400 and "`via` must be `gateway` or `substrate`" in call.json()["error"]
    call = httpx.post(f"{url}/console/call/{u}", headers=auth, json={"path": "/"})
    assert call.status_code == 400 and "a call needs the function's `host`" in call.json()["error"]
    for path in (f"/jobs/{u}/job-0123/log", f"/console/job-log-events/{u}/job-0123"):
        job = httpx.get(url + path)
        assert job.status_code == 400, path
        assert (
            job.json()["error"] == f"no job `job-0123` in universe `{u}`: `dream jobs -u {u}` lists the jobs"
        )
    for path in (f"/jobs/{u}/passwd/log", f"/console/job-log-events/{u}/..x"):
        job = httpx.get(url + path)
        assert job.status_code == 400 and "is not a job id (job-<hex>)" in job.json()["error"], path
    offset = httpx.get(f"{url}/jobs/{u}/job-0123/log?offset=-4")
    assert offset.status_code == 400 and "`offset` must be between 0" in offset.json()["error"]
    static = httpx.get(f"{url}/console/static/daemon.token")
    assert static.status_code == 404 and "no file daemon.token in the console's static files" in static.text
    assert dream_daemon.token not in static.text
    assert dream_daemon.client().ping()


def test_pages_cannot_be_framed_or_run_foreign_scripts(dream_daemon: DaemonProcess) -> None:
    page = httpx.get(f"{dream_daemon.url}/", headers=HTML)
    assert page.status_code == 200 and "<title>dream console</title>" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script>" not in page.text  # no inline script: the policy would block it anyway
    # API clients still get upstream's answer at /.
    assert httpx.get(f"{dream_daemon.url}/").json() == "pong"


def test_the_session_cookie_needs_the_console_header_and_the_right_value(
    dream_daemon: DaemonProcess, console_cloud: UniverseHandle
) -> None:
    url, u = dream_daemon.url, console_cloud.name
    signed = httpx.post(f"{url}/console/session", headers=dream_daemon.auth())
    cookie = signed.cookies["dream_console"]
    assert "httponly" in signed.headers["set-cookie"].lower()
    assert "samesite=strict" in signed.headers["set-cookie"].lower()
    assert httpx.post(f"{url}/console/session").status_code == 401  # the token is needed to sign in
    body = {"host": "x.example", "path": "/"}
    with_header = {"x-dream-console": "1", "cookie": f"dream_console={cookie}"}
    assert httpx.post(f"{url}/console/call/{u}", headers=with_header, json=body).status_code == 200
    # The cookie alone (a form a page could post) is not enough, nor a wrong cookie.
    alone = httpx.post(f"{url}/console/call/{u}", headers={"cookie": f"dream_console={cookie}"}, json=body)
    assert alone.status_code == 401
    wrong = httpx.post(
        f"{url}/console/call/{u}", headers={"x-dream-console": "1", "cookie": "dream_console=0000"}, json=body
    )
    assert wrong.status_code == 401 and "not signed in" in wrong.json()["error"]


def test_the_daemon_starts_without_the_mcp_sdk() -> None:
    code = (
        "import sys; import dream.daemon.main, dream.daemon.app; "
        "print(sorted(m for m in ('mcp', 'pydantic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_a_project_shows_its_websites_with_their_urls(
    dream_daemon: DaemonProcess, console_cloud: UniverseHandle, pushed: dict[str, Any]
) -> None:
    client, u = console_cloud.client, console_cloud.name
    client.new_website(u, "inspected", "docs")
    jobs = client.fixture(u, "pushAll", [pushed["id"], "", ""])["result"]["jobs"]
    assert all(j["status"] == "success" for j in jobs), jobs
    (site,) = client.project(u, "inspected")["websites"]
    assert (site["name"], site["path"], site["fqdn"]) == ("docs", "/docs", pushed["fqdn"])
    assert site["curl"].startswith(f'curl -H "Host: {pushed["fqdn"]}" http://127.0.0.1:')
    served = httpx.get(
        f"http://127.0.0.1:{console_cloud.port('substrate')}/docs/", headers={"host": site["fqdn"]}
    )
    assert served.status_code == 200 and "<html" in served.text.lower()


def test_dream_jobs_lists_jobs_and_prints_a_log_and_dream_logs_a_node(
    dream_daemon: DaemonProcess, console_cloud: UniverseHandle, pushed: dict[str, Any]
) -> None:
    u = console_cloud.name
    listed = run_dream(dream_daemon, "jobs", "-u", u)
    assert listed.returncode == 0, listed.stderr
    (line,) = [row for row in listed.stdout.splitlines() if "dream/tb_code_inspected" in row][:1]
    job, status = line.split()[:2]
    assert job.startswith("job-") and status == "success"
    printed = run_dream(dream_daemon, "jobs", job, "-u", u)
    assert printed.returncode == 0, printed.stderr
    assert f"job {job}: dream/tb_code_inspected @" in printed.stdout and "job succeeded" in printed.stdout
    assert f"job {job}: success" in printed.stderr
    followed = run_dream(dream_daemon, "jobs", job, "--follow", "-u", u)  # an ended job: it stops at once
    assert followed.returncode == 0 and followed.stdout == printed.stdout
    unknown = run_dream(dream_daemon, "jobs", "job-0123", "-u", u)
    assert unknown.returncode == 1 and f"no job `job-0123` in universe `{u}`" in unknown.stderr
    node = run_dream(dream_daemon, "logs", "substrate", "-u", u)
    assert node.returncode == 0 and "serving limits" in node.stdout
