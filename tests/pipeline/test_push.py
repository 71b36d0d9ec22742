"""From git push to a deployed project: the git host, auth, patrick, monkey, tns and hoarder together."""

from __future__ import annotations

import contextlib
import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dream.clients import Clients
from dream.clients.patrick import webhook_url
from dream.errors import DreamError
from dream.githost.payload import push_payload
from dream.http.webhooks import sign, webhook_headers
from dream.tcc import tns_keys
from dream.testing import harness
from dream.testing.harness import UniverseHandle, git
from tests.pipeline.shapes import push_shape
from tests.services.node_clients import call

pytestmark = pytest.mark.e2e

SHAPE = push_shape(copies=2)


@pytest.fixture(scope="module")
def cloud(module_universe_factory) -> UniverseHandle:  # type: ignore[no-untyped-def]
    return module_universe_factory("pipeline", config=SHAPE)


@pytest.fixture(scope="module")
def project(cloud: UniverseHandle, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return cloud.pushed_project("hello", tmp_path_factory.mktemp("projects") / "hello")


def tns(cloud: UniverseHandle, path: str) -> Any:
    return call(cloud, lambda clients: clients.tns.fetch(path))


def ping(cloud: UniverseHandle, fqdn: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{cloud.port('substrate')}/ping", headers={"host": fqdn})


def jobs_of(cloud: UniverseHandle, project_id: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{cloud.port('patrick')}/jobs/{project_id}"
    return list(httpx.get(url).json()["jobs"])


wait_for = functools.partial(harness.wait_for, timeout=60.0, every=0.05)


@contextlib.contextmanager
def local_commits_dropped(repo: Path) -> Iterator[None]:
    """The working copy is back at its starting commit afterwards, pass or fail (for commits never pushed)."""
    start = git("rev-parse", "HEAD", cwd=repo)
    try:
        yield
    finally:
        git("reset", "-q", "--hard", start, cwd=repo)


@contextlib.contextmanager
def pushed_back(repo: Path, *files: Path) -> Iterator[None]:
    """`files` have their content back afterwards, pass or fail, committed and pushed (the remote only
    moves forward); the caller waits for that build when it needs it."""
    originals = {path: path.read_bytes() for path in files}
    try:
        yield
    finally:
        for path, data in originals.items():
            path.write_bytes(data)
        if git("status", "--porcelain", cwd=repo):
            git("commit", "-qam", "restore after a test", cwd=repo)
        git("push", "-q", "origin", "HEAD:main", cwd=repo)


def test_push_all_publishes_the_project_and_replicates_its_build(
    cloud: UniverseHandle, project: dict[str, Any]
) -> None:
    pid = project["id"]
    head = git("rev-parse", "HEAD", cwd=Path(project["path"]) / "config")
    assert tns(cloud, tns_keys.current_key(pid, "main")) == {"current": head}
    obj = tns(cloud, tns_keys.project_prefix("main", head, pid))
    ((function_id, function),) = obj["functions"].items()
    assert function["name"] == "ping_pong" and function["call"] == "ping" and function["memory"] == 10_000_000
    cid = tns(cloud, tns_keys.asset_key(pid, function_id, "main"))
    assert cid.startswith("bafkrei")
    hoarders = [n for n in cloud.nodes() if n["name"].startswith("hoarder@")]

    async def held(clients: Clients) -> list[bool]:
        found = await clients.peers.discover("hoarder", fresh=True)
        return [await clients.hoarder.has(cid, at=peer) for peer in found]

    assert call(cloud, held) == [True] * len(hoarders)
    assert (ping(cloud, project["fqdn"]).status_code, ping(cloud, project["fqdn"]).text) == (200, "PONG")


def test_a_real_git_push_builds_without_any_fixture(cloud: UniverseHandle, project: dict[str, Any]) -> None:
    code = Path(project["path"]) / "code"
    source = code / "functions" / "ping_pong" / "main.wat"
    source.write_text(source.read_text().replace('"PONG"', '"PUSH"'))
    git("commit", "-qam", "answer PUSH", cwd=code)
    git("push", "-q", "origin", "main", cwd=code)
    wait_for(lambda: ping(cloud, project["fqdn"]).text == "PUSH", what="the pushed build to serve")
    head = git("rev-parse", "HEAD", cwd=code)

    def reported() -> list[dict[str, Any]]:
        # The build serves as soon as tns has it; the job is marked done when its monkey reports, just after.
        pushed = [j for j in jobs_of(cloud, project["id"]) if j["meta"]["after"] == head]
        return pushed if pushed and all(j["status"] not in ("open", "locked") for j in pushed) else []

    pushed = wait_for(reported, what="the push's job to be reported")
    assert [j["status"] for j in pushed] == ["success"]
    assert pushed[0]["meta"]["head_commit"]["message"] == "answer PUSH"


def _hook(cloud: UniverseHandle, repo_id: int) -> dict[str, Any]:
    return dict(call(cloud, lambda clients: clients.auth.repository(str(repo_id))))


def _webhook_target(
    cloud: UniverseHandle, project: dict[str, Any]
) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """The config repository's auth record, patrick's URL for its hook, and the repository as payloads show it."""
    repo = _hook(cloud, project["repositories"]["config"]["id"])
    url = webhook_url(f"http://127.0.0.1:{cloud.port('patrick')}", repo["hook"]["id"])
    owner, _, name = repo["fullname"].partition("/")
    record = {
        "id": repo["id"],
        "owner": owner,
        "name": name,
        "full_name": repo["fullname"],
        "clone_url": repo["url"],
        "html_url": repo["url"],
    }
    return repo, url, record


def test_webhooks_are_verified_and_redelivery_makes_no_new_job(
    cloud: UniverseHandle, project: dict[str, Any]
) -> None:
    repo, url, record = _webhook_target(cloud, project)
    head = git("rev-parse", "HEAD", cwd=Path(project["path"]) / "config")
    body = json.dumps(
        push_payload(
            repository=record, ref="refs/heads/main", before="", after=head, commits=[], pushed_at=1234
        )
    ).encode()
    headers = webhook_headers(
        body, secret=repo["hook"]["secret"], hook_id=repo["hook"]["id"], repo_id=repo["id"]
    )
    before = len(jobs_of(cloud, project["id"]))
    hook = repo["hook"]["id"]

    def refused(target: str, sent: dict[str, str]) -> tuple[int, dict[str, Any]]:
        answer = httpx.post(target, content=body, headers=sent)
        return answer.status_code, answer.json()

    unsigned = {k: v for k, v in headers.items() if not k.startswith("X-Hub-Signature")}
    assert refused(url, unsigned) == (
        401,
        {"code": 401, "error": "unsigned delivery: X-Hub-Signature-256 (or X-Hub-Signature) is required"},
    )
    wrong = {**headers, **sign(body, "not the secret")}
    assert refused(url, wrong) == (
        403,
        {"code": 403, "error": f"signature does not match the secret of hook `{hook}`"},
    )
    assert refused(url.rsplit("/", 1)[0] + "/123", headers) == (
        400,
        {"code": 400, "error": "unknown hook `123`: register the repository with auth first"},
    )
    assert refused(url, {**headers, "X-GitHub-Event": "ping"}) == (
        400,
        {"code": 400, "error": "only push events are built; got `ping`"},
    )
    assert len(jobs_of(cloud, project["id"])) == before
    first = httpx.post(url, content=body, headers=headers)
    again = httpx.post(url, content=body, headers={**headers, "X-GitHub-Delivery": "redelivered"})
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["job"] == again.json()["job"] and again.json()["created"] is False
    wait_for(lambda: len(jobs_of(cloud, project["id"])) == before + 1, what="one job")
    assert len(jobs_of(cloud, project["id"])) == before + 1


def test_broken_yaml_fails_its_job_and_the_previous_config_stays_current(
    cloud: UniverseHandle, project: dict[str, Any]
) -> None:
    config = Path(project["path"]) / "config"
    current = tns(cloud, tns_keys.current_key(project["id"], "main"))
    serving = ping(cloud, project["fqdn"])
    assert serving.status_code == 200 and serving.text, serving  # what answers now, and says so
    broken = config / "functions" / "ping_pong.yaml"
    with local_commits_dropped(config):
        broken.write_text(broken.read_text().replace("method: GET", "method: [GET"))
        git("commit", "-qam", "break the yaml", cwd=config)
        result = cloud.client.fixture(
            cloud.name,
            "pushSpecific",
            [str(project["repositories"]["config"]["id"]), "", "", "", str(config)],
        )
        (job,) = result["result"]["jobs"]
        assert job["status"] == "failed"
        assert "functions/ping_pong.yaml:" in job["error"]
        logs = httpx.get(f"http://127.0.0.1:{cloud.port('patrick')}/job/{job['job']}").json()["logs"]
        text = httpx.get(f"http://127.0.0.1:{cloud.port('patrick')}/logs/{logs[job['job']]}").text
        assert "functions/ping_pong.yaml:" in text and "ERROR" in text
        assert tns(cloud, tns_keys.current_key(project["id"], "main")) == current
        # The old version still answers, as it did: same function, same answer.
        after = ping(cloud, project["fqdn"])
        assert (after.status_code, after.text) == (200, serving.text)


def test_two_monkeys_run_each_of_twenty_jobs_once(cloud: UniverseHandle, project: dict[str, Any]) -> None:
    repo, url, record = _webhook_target(cloud, project)
    head = git("ls-remote", "origin", "refs/heads/main", cwd=Path(project["path"]) / "config").split()[0]
    ids = []
    for i in range(20):
        payload = push_payload(
            repository=record, ref="refs/heads/main", before="", after=head, commits=[], pushed_at=5000 + i
        )
        body = json.dumps(payload).encode()
        headers = webhook_headers(
            body, secret=repo["hook"]["secret"], hook_id=repo["hook"]["id"], repo_id=repo["id"]
        )
        ids.append(httpx.post(url, content=body, headers=headers).json()["job"])
    assert len(set(ids)) == 20

    def finished() -> list[dict[str, Any]] | None:
        jobs = [j for j in jobs_of(cloud, project["id"]) if j["id"] in ids]
        return jobs if all(j["status"] in ("success", "failed") for j in jobs) and len(jobs) == 20 else None

    jobs = wait_for(finished, timeout=120, what="twenty jobs")
    monkeys = {n["id"] for n in cloud.nodes() if n["name"].startswith("monkey@")}
    summary = [(j["status"], j["attempt"], j["monkey"] in monkeys, j.get("error", "")[:200]) for j in jobs]
    assert all(row[:3] == ("success", 1, True) for row in summary), summary
    log = cloud.client.logs(cloud.name, "patrick")["text"]
    for jid in ids:
        assert log.count(f"job {jid} taken by monkey") == 1


def test_a_code_job_queued_before_its_config_job_does_not_block_a_single_monkey(
    module_universe_factory,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    one_monkey = {**SHAPE, "Services": {**SHAPE["Services"], "monkey": {}, "hoarder": {}}}
    cloud = module_universe_factory("onemonkey", config=one_monkey)
    created = cloud.client.new_project(cloud.name, "order", str(tmp_path / "order"), lang="wat")
    code = Path(created["path"]) / "code"
    git("commit", "-q", "--allow-empty", "-m", "code first", cwd=code)
    git("push", "-q", "origin", "main", cwd=code)  # a code job, and no config published yet
    result = cloud.client.fixture(cloud.name, "pushAll", [created["id"], "", ""])["result"]
    assert [j["status"] for j in result["jobs"]] == ["success", "success"], result
    pushed = git("rev-parse", "HEAD", cwd=code)
    wait_for(
        lambda: (
            [
                j["status"]
                for j in jobs_of(cloud, created["id"])
                if j["meta"]["after"] == pushed and j["status"] != "success"
            ]
            == []
        ),
        what="the pushed code job to succeed once the config is published",
    )
    assert ping(cloud, created["fqdn"]).text == "PONG"


def test_a_website_repository_is_built_and_served(cloud: UniverseHandle, project: dict[str, Any]) -> None:
    site = cloud.client.new_website(cloud.name, "hello", "site")
    assert Path(site["path"], "index.html").is_file()
    cloud.client.fixture(
        cloud.name, "pushSpecific", [str(project["repositories"]["config"]["id"]), "", "", "", ""]
    )
    result = cloud.client.fixture(cloud.name, "pushWebsite", [""])["result"]
    assert [(j["repository"], j["status"]) for j in result["jobs"]] == [("dream/tb_website_site", "success")]
    base = f"http://127.0.0.1:{cloud.port('substrate')}"
    index = httpx.get(f"{base}/site/", headers={"host": project["fqdn"]})
    assert index.status_code == 200 and index.text == Path(site["path"], "index.html").read_text()
    assert httpx.get(f"{base}/site/../config", headers={"host": project["fqdn"]}).status_code == 404


def test_a_library_repository_is_built_and_serves_its_function(
    cloud: UniverseHandle, project: dict[str, Any]
) -> None:
    library = cloud.client.new_library(cloud.name, "hello", "shared", lang="wat")
    assert Path(library["path"], "main.wat").is_file()
    assert library["function"]["path"] == "/shared/ping"
    with pytest.raises(DreamError, match="already exists"):
        cloud.client.new_library(cloud.name, "hello", "shared", lang="wat")
    with pytest.raises(DreamError, match="no library template in `cobol`"):
        cloud.client.new_library(cloud.name, "hello", "other", lang="cobol")
    # The library's config and its function are in the config repository; push-all builds all three.
    result = cloud.client.fixture(cloud.name, "pushAll", [project["id"], "", ""])["result"]
    repos = {j["repository"]: j["status"] for j in result["jobs"]}
    errors = [j.get("error") for j in jobs_of(cloud, project["id"]) if j["status"] == "failed"]
    assert repos["dream/tb_library_shared"] == "success", errors
    assert set(repos.values()) == {"success"}, errors
    answer = httpx.get(
        f"http://127.0.0.1:{cloud.port('substrate')}/shared/ping", headers={"host": project["fqdn"]}
    )
    assert (answer.status_code, answer.text) == (200, "PONG")
    obj = tns(
        cloud,
        tns_keys.project_prefix(
            "main", git("rev-parse", "HEAD", cwd=Path(project["path"]) / "config"), project["id"]
        ),
    )
    (function,) = [f for f in obj["functions"].values() if f["name"] == "shared_ping"]
    assert function["source"] == f"libraries/{library['id']}"


def test_a_job_whose_monkey_crashes_is_run_again(cloud: UniverseHandle, project: dict[str, Any]) -> None:
    import os
    import signal

    code = Path(project["path"]) / "code"
    build = code / "functions" / "ping_pong" / ".taubyte" / "build.sh"
    with pushed_back(code, build):
        lines = build.read_text().splitlines(keepends=True)
        build.write_text(lines[0] + "sleep 2\n" + "".join(lines[1:]))  # a slow build, to crash its monkey in
        git("commit", "-qam", "slow build", cwd=code)
        git("push", "-q", "origin", "main", cwd=code)
        pushed = git("rev-parse", "HEAD", cwd=code)

        def running() -> dict[str, Any] | None:
            jobs = [
                j
                for j in jobs_of(cloud, project["id"])
                if j["meta"]["after"] == pushed and j["status"] == "locked"
            ]
            return jobs[0] if jobs else None

        job = wait_for(running, what="the slow job to start")
        monkey = next(n for n in cloud.nodes() if n["id"] == job["monkey"])
        os.kill(monkey["pid"], signal.SIGKILL)

        def finished() -> dict[str, Any] | None:
            found = [
                j
                for j in jobs_of(cloud, project["id"])
                if j["id"] == job["id"] and j["status"] in ("success", "failed")
            ]
            return found[0] if found else None

        done = wait_for(finished, timeout=90, what="the job to be run again")
        assert done["status"] == "success" and done["attempt"] == 2


def test_a_cancelled_job_publishes_nothing_and_a_retry_runs_it_again(
    cloud: UniverseHandle, project: dict[str, Any], tmp_path: Path
) -> None:
    code = Path(project["path"]) / "code"
    function = code / "functions" / "ping_pong"
    build, source = function / ".taubyte" / "build.sh", function / "main.wat"
    patrick = f"http://127.0.0.1:{cloud.port('patrick')}"
    before = ping(cloud, project["fqdn"]).text
    gate = tmp_path / "gate"
    with pushed_back(code, build), contextlib.ExitStack() as opened:
        opened.callback(gate.touch)  # pass or fail, a build waiting at the gate goes on
        lines = build.read_text().splitlines(keepends=True)
        # The build waits (30 s at most) for the test to open the gate: it is running when cancelled.
        wait_gate = f"for i in $(seq 600); do [ -e {gate} ] && break; sleep 0.05; done\n"
        build.write_text(lines[0] + wait_gate + "".join(lines[1:]))
        source.write_text(
            re.sub(r'\(data \(i32.const 16\) "\w{4}"\)', '(data (i32.const 16) "RTRY")', source.read_text())
        )
        git("commit", "-qam", "answer RTRY, slowly", cwd=code)
        git("push", "-q", "origin", "main", cwd=code)
        pushed = git("rev-parse", "HEAD", cwd=code)

        def running() -> dict[str, Any] | None:
            found = [j for j in jobs_of(cloud, project["id"]) if j["meta"]["after"] == pushed]
            return found[0] if found and found[0]["status"] == "locked" else None

        job = wait_for(running, what="the pushed job to start")
        cancelled = httpx.post(f"{patrick}/cancel/{job['id']}")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

        def reported() -> dict[str, Any] | None:
            record = dict(httpx.get(f"{patrick}/job/{job['id']}").json())
            return record if record["logs"] else None

        # Its monkey hears of it with the next heartbeat, stops the build (the gate is still shut) and
        # reports: the job stays cancelled, with its log, and the previous build keeps serving.
        done = wait_for(reported, timeout=20, what="the cancelled job's monkey to report")
        assert done["status"] == "cancelled"
        log = httpx.get(f"{patrick}/logs/{next(iter(done['logs'].values()))}").text
        assert "cancelled" in log, log
        assert ping(cloud, project["fqdn"]).text == before
        assert httpx.post(f"{patrick}/cancel/{job['id']}").status_code >= 400  # it has ended

        gate.touch()
        retried = httpx.post(f"{patrick}/retry/{job['id']}")
        assert retried.status_code == 200 and retried.json()["status"] == "open"
        wait_for(lambda: ping(cloud, project["fqdn"]).text == "RTRY", what="the retried build to serve")

        def succeeded() -> dict[str, Any] | None:
            record = dict(httpx.get(f"{patrick}/job/{job['id']}").json())
            return record if record["status"] not in ("open", "locked") else None

        finished = wait_for(succeeded, what="the retried job to be reported")
        assert (finished["status"], finished["retried"], finished["attempt"]) == ("success", 1, 1)
    restored = git("rev-parse", "HEAD", cwd=code)

    def restore_done() -> bool:
        found = [j for j in jobs_of(cloud, project["id"]) if j["meta"]["after"] == restored]
        return bool(found) and found[0]["status"] == "success"

    wait_for(restore_done, what="the build script's restore to build")
