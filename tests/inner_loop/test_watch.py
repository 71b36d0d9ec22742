"""`dream watch`: a save rebuilds only what it belongs to, through monkey's pipeline, and the new answer is
served; a build error is printed with the compiler's file and line while the old answer keeps serving."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from dream.cli.watch import ChangeQueue, commit_and_push
from dream.daemon.routes.working_copy import MAX_CHANGED
from dream.errors import DreamError
from dream.testing.harness import DaemonProcess, UniverseHandle, git, wait_for
from dream.testing.plugin import UniverseFactory
from tests.inner_loop.cli import dream

ROOT = Path(__file__).resolve().parents[2]
GO_TEMPLATE = ROOT / "fixtures" / "templates" / "ping_pong" / "go"
GO_FUNCTION = """\
id: QmWatchedGoFunction00000000000000000000000001
source: .
trigger:
  type: https
  method: GET
  paths:
    - /gopong
domains:
  - GeneratedDomain
execution:
  timeout: 10s
  memory: 32MB
  call: ping
"""
BUILD_WAIT = 240.0  # a Go build in a cold test cache


@dataclass
class Watching:
    """A running `dream watch` and what it printed so far."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def after(self, mark: int) -> list[str]:
        return self.lines[mark:]

    def wait_line(self, mark: int, text: str, timeout: float = BUILD_WAIT) -> list[str]:
        wait_for(
            lambda: any(text in line for line in self.after(mark)) or self.process.poll() is not None,
            f"`{text}` from dream watch",
            timeout=timeout,
        )
        assert self.process.poll() is None, "\n".join(self.lines)
        return self.after(mark)


@dataclass
class Project:
    universe: UniverseHandle
    root: Path
    http: httpx.Client
    watching: Watching

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def answers(self, path: str, body: str, timeout: float = 15.0) -> None:
        try:
            wait_for(lambda: self.get(path).text == body, f"{path} answering {body!r}", timeout=timeout)
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}; it answers {self.get(path).text!r}; dream watch printed:\n"
                + "\n".join(self.watching.lines)
            ) from None


@pytest.fixture(scope="module")
def project(
    module_universe_factory: UniverseFactory,
    dream_daemon: DaemonProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Project]:
    universe = module_universe_factory("watched")
    client = universe.client
    root = tmp_path_factory.mktemp("watched") / "watched"
    made = client.new_project(universe.name, "watched", str(root), lang="wat")
    client.new_website(universe.name, "watched", "site")
    client.new_library(universe.name, "watched", "tools", lang="wat")  # and its function tools_ping
    # A Go function next to the WAT one.
    shutil.copytree(
        GO_TEMPLATE, root / "code" / "functions" / "gopong", ignore=shutil.ignore_patterns("function.yaml")
    )
    (root / "config" / "functions" / "gopong.yaml").write_text(GO_FUNCTION)
    port = universe.port("substrate")
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"host": made["fqdn"]}, timeout=30)
    # Adding the website and the library each committed and pushed the config: their two jobs publish the
    # config as it was then, in whichever order they end. Let both end first, or one could publish its
    # older config after the change below.
    patrick = f"http://127.0.0.1:{universe.port('patrick')}/jobs/{made['id']}"

    def config_jobs_ended() -> bool:
        jobs = httpx.get(patrick, timeout=30).json()["jobs"]
        return len(jobs) >= 2 and all(job["status"] in ("success", "failed", "cancelled") for job in jobs)

    wait_for(
        config_jobs_ended, "the config jobs of the website's and the library's commits", timeout=BUILD_WAIT
    )
    everything = [
        str(root / "config" / "config.yaml"),
        str(root / "code" / "functions" / "ping_pong" / "main.wat"),
        str(root / "code" / "functions" / "gopong" / "ping.go"),
        str(root / "websites" / "site" / "index.html"),
        str(root / "libraries" / "tools" / "main.wat"),
    ]
    # The first deploy goes through the same daemon route a save does.
    first = client.working_copy_change(universe.name, "watched", everything, path=str(root))
    assert not first["failed"], first
    assert sorted(b["label"] for b in first["built"]) == [
        "config",
        "functions/gopong",
        "functions/ping_pong",
        "libraries/tools",
        "websites/site",
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "dream", "watch", str(root), "--universe", universe.name],
        env={**dream_daemon.env, "PYTHONUNBUFFERED": "1", "COLUMNS": "250"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    watching = Watching(process)
    reader = threading.Thread(target=watching.read, daemon=True)
    reader.start()
    try:
        watching.wait_line(0, "save a file to deploy it", timeout=60)
        yield Project(universe, root, http, watching)
    finally:
        http.close()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        reader.join(timeout=5)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def deploys(lines: list[str]) -> list[str]:
    return [line for line in lines if "deployed in" in line or "failed; the last good version" in line]


def test_a_wat_save_rebuilds_only_that_function_and_serves_the_new_answer(project: Project) -> None:
    project.answers("/ping", "PONG")
    mark = len(project.watching.lines)
    edit(project.root / "code" / "functions" / "ping_pong" / "main.wat", '"PONG"', '"PING"')
    lines = project.watching.wait_line(mark, "ready in")
    assert any("changed: code/functions/ping_pong/main.wat" in line for line in lines), lines
    done = deploys(lines)
    assert len(done) == 1 and "✓ functions/ping_pong deployed in" in done[0], lines
    assert 'curl -H "Host: ' in done[0] and "/ping" in done[0]  # where to try it
    project.answers("/ping", "PING")
    assert project.get("/gopong").text == "PONG"  # the others were not touched


@pytest.mark.language
def test_a_go_save_rebuilds_only_that_function(project: Project) -> None:
    project.answers("/gopong", "PONG")
    mark = len(project.watching.lines)
    edit(project.root / "code" / "functions" / "gopong" / "ping.go", '"PONG"', '"GO-PONG"')
    lines = project.watching.wait_line(mark, "ready in")
    done = deploys(lines)
    assert len(done) == 1 and "✓ functions/gopong deployed in" in done[0], lines
    project.answers("/gopong", "GO-PONG")


def test_a_website_save_rebuilds_only_the_website(project: Project) -> None:
    mark = len(project.watching.lines)
    edit(project.root / "websites" / "site" / "index.html", "<title>", "<title>Saved: ")
    lines = project.watching.wait_line(mark, "ready in")
    done = deploys(lines)
    assert len(done) == 1 and "✓ websites/site deployed in" in done[0], lines
    wait_for(lambda: "<title>Saved: " in project.get("/site").text, "the saved page", timeout=15)


def test_a_library_save_rebuilds_only_the_library_and_its_function_answers_anew(project: Project) -> None:
    project.answers("/tools/ping", "PONG")
    mark = len(project.watching.lines)
    edit(project.root / "libraries" / "tools" / "main.wat", '"PONG"', '"LIBR"')
    lines = project.watching.wait_line(mark, "ready in")
    done = deploys(lines)
    assert len(done) == 1 and "✓ libraries/tools deployed in" in done[0], lines
    project.answers("/tools/ping", "LIBR")


def test_a_syntax_error_keeps_the_old_answer_and_prints_the_compilers_message(project: Project) -> None:
    wat = project.root / "code" / "functions" / "ping_pong" / "main.wat"
    good = wat.read_text()
    before = project.get("/ping").text
    mark = len(project.watching.lines)
    wat.write_text(good.replace("(i32.const 0)))", "(i32.const 0))"))
    try:
        # The error comes on the lines after the "✗" line: wait for the compiler's own line.
        lines = project.watching.wait_line(mark, "--> main.wat:")
        text = "\n".join(lines)
        assert "the last good version keeps serving" in text
        assert "functions/ping_pong failed to build" in text
        assert "main.wat: expected `)`" in text and "--> main.wat:" in text, text  # the file and its line
        assert project.get("/ping").text == before
    finally:
        # Fixed, it deploys again (and the tests after this one find a project that builds).
        mark = len(project.watching.lines)
        wat.write_text(good.replace(f'"{before}"', '"GOOD"'))
        project.watching.wait_line(mark, "ready in")
    project.answers("/ping", "GOOD")


def test_a_function_added_while_watching_is_built_with_its_config(project: Project) -> None:
    # The code first (no config names it yet: nothing to deploy), then its config: both are deployed.
    code = project.root / "code" / "functions" / "fresh"
    shutil.copytree(project.root / "code" / "functions" / "ping_pong", code)
    wat = code / "main.wat"
    wat.write_text(
        re.sub(r'\(data \(i32.const 16\) "[^"]*"\)', '(data (i32.const 16) "NEWF")', wat.read_text())
    )
    spec = (project.root / "config" / "functions" / "ping_pong.yaml").read_text()
    spec = re.sub(r"(?m)^id: .*$", "id: QmWatchedFreshFunction000000000000000000001", spec)
    mark = len(project.watching.lines)
    (project.root / "config" / "functions" / "fresh.yaml").write_text(spec.replace("- /ping", "- /fresh"))
    lines = project.watching.wait_line(mark, "✓ functions/fresh deployed in")
    assert any("✓ config deployed in" in line for line in lines), lines
    project.answers("/fresh", "NEWF")


def test_a_config_error_is_shown_with_file_and_line(project: Project) -> None:
    config = project.root / "config" / "functions" / "ping_pong.yaml"
    good = config.read_text()
    mark = len(project.watching.lines)
    config.write_text(good.replace("timeout: 10s", "timeout: ten"))
    lines = project.watching.wait_line(mark, "the last good version keeps serving")
    assert any("functions/ping_pong.yaml:" in line and "execution.timeout" in line for line in lines), lines
    mark = len(project.watching.lines)
    config.write_text(good)
    lines = project.watching.wait_line(mark, "ready in")
    assert "✓ config deployed in" in "\n".join(lines)


def test_a_burst_of_saves_is_one_deploy(project: Project) -> None:
    wat = project.root / "code" / "functions" / "ping_pong" / "main.wat"
    text = wat.read_text()
    current = project.get("/ping").text
    mark = len(project.watching.lines)
    # The guest writes 4 bytes of its data segment: 4-letter answers.
    for word in ("ONE1", "TWO2", "LAST"):
        wat.write_text(text.replace(f'"{current}"', f'"{word}"'))
    project.watching.wait_line(mark, "ready in")
    project.answers("/ping", "LAST")
    assert len(deploys(project.watching.after(mark))) == 1, project.watching.after(mark)


def test_saves_queued_during_a_deploy_are_one_more_deploy() -> None:
    changes = ChangeQueue()
    changes.put([Path("/p/code/functions/a/main.wat")])
    assert changes.take() == {Path("/p/code/functions/a/main.wat")}
    # While that one deploys, three saves come in: the next take is all of them, once.
    changes.put([Path("/p/code/functions/a/main.wat")])
    changes.put([Path("/p/websites/site/index.html")])
    changes.put([Path("/p/code/functions/a/main.wat")])
    assert changes.take() == {Path("/p/code/functions/a/main.wat"), Path("/p/websites/site/index.html")}
    assert changes.take(timeout=0.01) == set()


def test_the_working_copy_route_refuses_bad_changes(project: Project) -> None:
    client, name = project.universe.client, project.universe.name
    elsewhere = project.root / "notes"
    at_limit = [str(elsewhere / f"{i}.txt") for i in range(MAX_CHANGED)]
    answer = client.working_copy_change(name, "watched", at_limit, path=str(project.root))
    assert (answer["built"], answer["failed"], len(answer["ignored"])) == ([], [], MAX_CHANGED)
    with pytest.raises(
        DreamError, match=f"{MAX_CHANGED + 1} changed files in one change is more than {MAX_CHANGED}; push"
    ):
        client.working_copy_change(name, "watched", [*at_limit, str(elsewhere / "one-more.txt")])
    with pytest.raises(DreamError, match="changed files must be absolute paths inside"):
        client.working_copy_change(name, "watched", ["/etc/passwd"], path=str(project.root))
    with pytest.raises(DreamError, match="no project `nope` in universe"):
        client.working_copy_change(name, "nope", [str(project.root / "config" / "config.yaml")])
    with pytest.raises(DreamError, match="`changed` must be a non-empty JSON list"):
        client.working_copy_change(name, "watched", [])


def test_commit_commits_and_pushes_each_working_copy_a_change_touched(project: Project) -> None:
    code, config = project.root / "code", project.root / "config"
    readme = code / "functions" / "ping_pong" / "NOTES.md"
    readme.write_text("saved by a test\n")
    config_head = git("rev-parse", "HEAD", cwd=config)
    pushed = commit_and_push(project.root, {readme}, ["functions/ping_pong"])
    assert pushed == ["code"]
    head = git("rev-parse", "HEAD", cwd=code)
    assert git("log", "-1", "--format=%s", cwd=code) == "dream watch: functions/ping_pong"
    # On the git host too, and nothing else was committed.
    assert git("ls-remote", "origin", "refs/heads/main", cwd=code).split()[0] == head
    assert git("rev-parse", "HEAD", cwd=config) == config_head
    # Nothing left to commit: nothing is pushed again.
    assert commit_and_push(project.root, {readme}, ["functions/ping_pong"]) == []


def test_watching_a_project_the_universe_does_not_know_is_refused_at_once(
    project: Project, dream_daemon: DaemonProcess, tmp_path: Path
) -> None:
    shutil.copytree(ROOT / "fixtures" / "projects" / "hello", tmp_path / "hello")
    refused = dream("watch", str(tmp_path / "hello"), "-u", project.universe.name, env=dream_daemon.env)
    assert refused.returncode == 1
    assert "no project `QmHe11oDreamSamp1eProjectForServingTests0001` in universe `watched`" in refused.stderr
    nowhere = dream("watch", str(tmp_path), env=dream_daemon.env)
    assert (
        nowhere.returncode == 1
        and "is not in a project: no config/config.yaml here or above" in nowhere.stderr
    )
