"""The dashboard in a real headless Chromium against a real universe: sign in with the address `dream
console` prints, create a project from the page and push it, watch the build turn green, call the
function with the form and read PONG, see the call in the inspector, kill a node and see it come back;
then a page on another origin tries to drive the signed-in dashboard, and bad input gets a sentence; a
build that waits for the test is followed live (page, API, `dream jobs --follow`) until it turns green.
Screenshots are kept in test-artifacts/console/ (docs/console.md shows them)."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import threading
import uuid
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dream.testing.harness import DaemonProcess, UniverseHandle, wait_for
from tests.console.helpers import click, data, shoot, shows, text_of, wait, with_client
from tests.universe.test_daemon_browser import page_server  # noqa: F401  (a fixture)

pytestmark = pytest.mark.e2e

BUILD_WAIT = 240  # seconds: a WAT build is quick, but the machine may be busy


def test_create_push_call_inspect_and_kill_from_the_page(
    signed_in: Any, console_cloud: UniverseHandle, dream_daemon: DaemonProcess
) -> None:
    driver = signed_in
    driver.get(f"{dream_daemon.url}/")
    wait(driver, lambda d: console_cloud.name in text_of(d, "#universes"), what="the universe listed")
    shoot(driver, "universes.png")
    click(driver, f'#universes a[href="/console/u/{console_cloud.name}"]')
    wait(driver, lambda d: "substrate" in text_of(d, "#nodes-body"), what="the nodes")

    # Create a project from the form (WAT: the quickest build).
    form = driver.find_element("id", "new-project")
    form.find_element("name", "name").send_keys("clicked")
    form.find_element("css selector", 'select[name="lang"] option[value="wat"]').click()
    click(driver, "#new-project button")
    wait(driver, lambda d: text_of(d, "#new-project output").startswith("done"), what="project created")
    wait(driver, lambda d: "clicked" in text_of(d, "#projects-body"), what="the project listed")

    # Push it and watch its builds turn green.
    click(driver, '.project[data-project="clicked"] button.push')
    wait(
        driver,
        lambda d: "builds:" in text_of(d, "#status"),
        timeout=BUILD_WAIT,
        what="the push's answer",
    )
    assert "failed" not in text_of(driver, "#status"), text_of(driver, "#status")

    def green(d: Any) -> bool:
        rows = d.find_elements("css selector", "#builds-body tr[data-job]")
        mine = [r.text for r in rows if "clicked" in r.text]
        return len(mine) >= 2 and all("success" in r for r in mine[:2])

    wait(driver, green, timeout=60, what="two green builds")
    shoot(driver, "builds.png")

    # Call the function with the form.
    (function,) = console_cloud.client.project(console_cloud.name, "clicked")["functions"]
    fqdn = function["fqdn"]
    wait(
        driver,
        lambda d: d.find_elements("css selector", '.project[data-project="clicked"] .call-it'),
        what="its function",
    )
    click(driver, '.project[data-project="clicked"] .call-it')
    assert driver.find_element("css selector", '#call-form input[name="host"]').get_attribute("value") == fqdn
    click(driver, "#call-form button")
    wait(driver, lambda d: text_of(d, "#call-body") == "PONG", what="PONG")
    assert text_of(driver, "#call-status").startswith("200 in ")
    shoot(driver, "call.png")

    # The call is in the inspector, with what it cost.
    def recorded(d: Any) -> bool:
        rows = d.find_elements("css selector", "#requests-body tr.request")
        return any(fqdn in r.text and "ping_pong" in r.text for r in rows)

    wait(driver, recorded, timeout=30, what="the call in the inspector")
    driver.execute_script("document.getElementById('requests').scrollIntoView();")
    shoot(driver, "inspector.png")
    # Only one function's calls, then a name no call has (counted in the page: rows are replaced live).
    visible = (
        "return Array.from(document.querySelectorAll('#requests-body tr.request'))"
        ".filter((r) => !r.hidden).map((r) => r.querySelector('td.fn').textContent);"
    )
    driver.find_element("id", "requests-filter").send_keys("ping_pong")
    shown = driver.execute_script(visible)
    assert shown and set(shown) == {"ping_pong"}
    driver.find_element("id", "requests-filter").send_keys("-not")
    assert driver.execute_script(visible) == []
    driver.execute_script(
        "const f = document.getElementById('requests-filter'); f.value = ''; f.dispatchEvent(new Event('input'));"
    )

    # Follow a node's log, filtered.
    driver.find_element("css selector", "#log-node").click()
    substrate = console_cloud.node("substrate")
    driver.find_element("css selector", f'#log-node option[value="{substrate["id"]}"]').click()
    driver.find_element("id", "log-filter").send_keys("serving limits")
    wait(driver, lambda d: "serving limits" in text_of(d, "#log-text"), what="the filtered log")
    shoot(driver, "logs.png")

    # Kill the substrate's process: the daemon brings it back, the page shows its new pid.
    old_pid = substrate["pid"]
    driver.execute_script("document.getElementById('nodes').scrollIntoView();")
    click(driver, f'#nodes-body tr[data-node="{substrate["id"]}"] button.kill')
    wait(driver, lambda d: "killed" in text_of(d, "#status"), what="the kill's answer")

    def back(d: Any) -> bool:
        row = text_of(d, f'#nodes-body tr[data-node="{substrate["id"]}"]')
        pid = text_of(d, f'#nodes-body tr[data-node="{substrate["id"]}"] td.pid')
        return " up" in f" {row}" and pid not in ("", "-", str(old_pid))

    wait(driver, back, timeout=90, what="the substrate back up with a new pid")
    driver.execute_script("document.getElementById('nodes').scrollIntoView();")
    assert driver.find_elements(
        "css selector", f'#nodes-body svg.graph g.node[data-node="{substrate["id"]}"]'
    )
    shoot(driver, "nodes.png")
    assert console_cloud.node("substrate")["pid"] != old_pid


ATTACK = """<!doctype html><html><head><meta charset="utf-8"><title>running</title></head>
<body><pre id="out">running</pre><script>
const daemon = %(daemon)s, universe = %(universe)s, node = %(node)s;
const results = {};
async function attempt(name, url, options) {
  try {
    const response = await fetch(url, options);
    results[name] = "answered " + response.status;
  } catch (error) {
    results[name] = "failed: " + error;
  }
}
(async () => {
  const h = {"x-dream-console": "1", "content-type": "application/json"};
  await attempt("kill", daemon + "/console/kill/" + universe + "/" + node,
                {method: "POST", credentials: "include", headers: h});
  await attempt("kill-simple", daemon + "/console/kill/" + universe + "/" + node,
                {method: "POST", credentials: "include", mode: "no-cors"});
  await attempt("project", daemon + "/project/" + universe,
                {method: "POST", credentials: "include", headers: h, body: JSON.stringify({name: "fromweb", path: "/tmp/fromweb"})});
  await attempt("page", daemon + "/console/u/" + universe, {credentials: "include"});
  document.getElementById("out").textContent = JSON.stringify(results);
  document.title = "done";
})();
</script></body></html>"""


def test_a_page_on_another_origin_cannot_drive_the_signed_in_dashboard(
    signed_in: Any,
    page_server: tuple[ThreadingHTTPServer, dict[str, bytes]],  # noqa: F811
    console_cloud: UniverseHandle,
    dream_daemon: DaemonProcess,
) -> None:
    driver = signed_in
    server, pages = page_server
    node = console_cloud.node("tns")
    pages["/attack.html"] = (
        ATTACK
        % {
            "daemon": json.dumps(dream_daemon.url),
            "universe": json.dumps(console_cloud.name),
            "node": json.dumps(node["id"]),
        }
    ).encode()
    driver.get(f"http://127.0.0.1:{server.server_address[1]}/attack.html")
    wait(driver, lambda d: d.title == "done", what="the attack page to finish")
    results = json.loads(text_of(driver, "#out"))
    shoot(driver, "cross-origin.png")
    # Nothing could be read, and the daemon refused each request itself.
    assert all(
        value.startswith("failed: TypeError") or value == "answered 0" for value in results.values()
    ), results
    log = dream_daemon.log()
    assert f"refused OPTIONS /console/kill/{console_cloud.name}/{node['id']}" in log
    assert f"refused POST /console/kill/{console_cloud.name}/{node['id']}" in log
    assert console_cloud.node("tns")["pid"] == node["pid"]
    assert "fromweb" not in [p["name"] for p in console_cloud.client.projects(console_cloud.name)]


def test_bad_input_gets_a_sentence_and_the_daemon_keeps_running(
    signed_in: Any, console_cloud: UniverseHandle, dream_daemon: DaemonProcess
) -> None:
    driver = signed_in
    driver.get(f"{dream_daemon.url}/console/u/nowhere")
    assert "universe `nowhere` does not exist" in text_of(driver, ".error-page")
    driver.get(f"{dream_daemon.url}/console/u/{console_cloud.name}")
    wait(driver, lambda d: "substrate" in text_of(d, "#nodes-body"), what="the nodes")
    form = driver.find_element("id", "new-project")
    form.find_element("name", "name").send_keys("badtemplate")
    # A template and a language the page does not offer (as a hand-made request would send).
    driver.execute_script(
        "const s = document.querySelector('#new-project select[name=template]');"
        "s.add(new Option('nope', 'nope')); s.value = 'nope';"
    )
    click(driver, "#new-project button")
    shows(driver, "#new-project output", "400: ", "no template `nope`; templates: ", "ping_pong")
    driver.execute_script(
        "const s = document.querySelector('#new-project select[name=template]'); s.value = 'ping_pong';"
        "const l = document.querySelector('#new-project select[name=lang]');"
        "l.add(new Option('cobol', 'cobol')); l.value = 'cobol';"
    )
    click(driver, "#new-project button")
    shows(driver, "#new-project output", "no `ping_pong` template in `cobol`; languages: ")
    shoot(driver, "bad-input.png")
    # The call form with a header line that is not one.
    driver.find_element("css selector", '#call-form input[name="host"]').send_keys("x.example")
    driver.find_element("css selector", '#call-form textarea[name="headers"]').send_keys("not a header")
    click(driver, "#call-form button")
    shows(driver, "#call-status", "header line 1 `not a header` is not `Name: value`")
    assert dream_daemon.client().ping()
    assert console_cloud.client.universes()[console_cloud.name]["state"] == "running"


# A build that prints a line, then waits (bounded) for a file the test makes once it has seen that line in
# the page: the job cannot end before its log was read while it ran.
SLOW_BUILD = """#!/bin/bash
# %(token)s
echo "waiting for release at $DREAM_WORK/release"
tries=0
while [ ! -e "$DREAM_WORK/release" ] && [ $tries -lt 3000 ]; do sleep 0.05; tries=$((tries + 1)); done
echo "released after $tries tries"
. /utils/wasm.sh
build "${FILENAME}"
ret=$?
echo -n $ret > /out/ret-code
exit $ret
"""


def _follow_cli(
    dream_daemon: DaemonProcess, universe: str, job: str
) -> tuple[subprocess.Popen[str], list[str]]:
    """`dream jobs JOB --follow` started, its lines gathered by a thread as they come."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dream", "jobs", job, "--follow", "-u", universe],
        env=dream_daemon.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def gather() -> None:
        assert proc.stdout is not None
        lines.extend(proc.stdout)

    threading.Thread(target=gather, daemon=True).start()
    return proc, lines


def test_a_running_build_log_is_followed_live(
    signed_in: Any,
    console_cloud: UniverseHandle,
    dream_daemon: DaemonProcess,
    tmp_path: Path,
) -> None:
    driver = signed_in
    u = console_cloud.name
    api = dream_daemon.client()
    created = api.new_project(u, "slowbuild", str(tmp_path / "slowbuild"), lang="wat")
    (script,) = (tmp_path / "slowbuild").glob("**/functions/*/.taubyte/build.sh")
    script.write_text(SLOW_BUILD % {"token": uuid.uuid4().hex})  # a new source: never a cached build
    pushed: dict[str, Any] = {}
    release: list[Path] = []

    def push() -> None:
        with dream_daemon.client() as pusher:
            pushed.update(pusher.fixture(u, "pushAll", [created["id"], "", str(tmp_path / "slowbuild")]))

    pusher = threading.Thread(target=push, daemon=True)
    pusher.start()
    follower: subprocess.Popen[str] | None = None
    try:
        driver.get(f"{dream_daemon.url}/console/u/{u}")

        def running_code_job() -> str:
            for job in api.jobs(u):
                if job["repository"].endswith("tb_code_slowbuild") and job["status"] == "locked":
                    return str(job["id"])
            return ""

        job = wait_for(running_code_job, "the code job running", timeout=BUILD_WAIT, every=0.2)
        follower, cli_lines = _follow_cli(dream_daemon, u, job)
        click(driver, f'#builds-body tr[data-job="{job}"] button.log')
        wait(
            driver,
            lambda d: "waiting for release at" in text_of(d, "#build-log"),
            what="a line while it runs",
        )
        found = re.search(r"waiting for release at (\S+)", text_of(driver, "#build-log"))
        assert found, text_of(driver, "#build-log")
        release.append(Path(found.group(1)))
        # Still running: the page says so, and so do the API, the CLI and MCP's reader, from an offset.
        assert driver.find_element("id", "build-log-state").get_attribute("data-status") == ""
        assert "following its log" in text_of(driver, "#build-log-state")
        first = api.job_log(u, job)
        assert first["status"] == "locked" and not first["done"] and "waiting for release" in first["text"]
        later = api.job_log(u, job, first["offset"])
        assert later["offset"] >= first["offset"] and not later["done"]

        async def read_running(client: Any) -> Any:
            args = {"universe": u, "job": job, "offset": first["offset"]}
            return data(await client.call_tool("read_log", args))

        by_mcp = with_client(dream_daemon, read_running)
        assert by_mcp["status"] == "locked" and not by_mcp["done"] and by_mcp["offset"] >= first["offset"]
        wait_for(lambda: any("waiting for release" in line for line in cli_lines), "the CLI following")
        assert follower.poll() is None
        driver.execute_script("document.getElementById('builds').scrollIntoView();")
        shoot(driver, "build-live.png")

        release[0].touch()
        wait(
            driver,
            lambda d: d.find_element("id", "build-log-state").get_attribute("data-status") == "success",
            timeout=BUILD_WAIT,
            what="the followed build ending green",
        )
        log = text_of(driver, "#build-log")
        assert "released after" in log and "job succeeded" in log
        assert log.index("waiting for release") < log.index("released after") < log.index("job succeeded")
        wait(
            driver,
            lambda d: "success" in text_of(d, f'#builds-body tr[data-job="{job}"]'),
            what="its row green",
        )
        shoot(driver, "build-done.png")
        assert follower.wait(timeout=60) == 0
        printed = "".join(cli_lines)
        assert "released after" in printed and f"job {job}: success" in printed
        pusher.join(timeout=BUILD_WAIT)
        assert [j["status"] for j in pushed["result"]["jobs"]] == ["success", "success"], pushed
    finally:
        for path in release:
            with contextlib.suppress(OSError):  # a failed check must not leave the build waiting
                path.touch()
        if follower is not None and follower.poll() is None:
            follower.kill()
            follower.wait()
        pusher.join(timeout=BUILD_WAIT)
        api.close()
