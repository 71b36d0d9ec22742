"""The dashboard's databases, storages and channels in a real headless Chromium: a project whose config
has one of each, its keys put, read and deleted from the page, a file added in two versions and one
downloaded, a channel tailed live while messages are published from the page and from the API; then bad
input (an unknown database, a put past the database's size, an unknown job) gets the daemon's sentence
on the page and the daemon keeps running. Screenshots go to test-artifacts/console/ (docs/console.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dream.tcc.ids import new_resource_id
from dream.testing.harness import DaemonProcess, UniverseHandle, wait_for
from tests.console.helpers import click, shoot, shows, submit, text_of, wait

pytestmark = pytest.mark.e2e

PROJECT = "stash"
DATABASE_SIZE = 1000  # bytes (1KB): the `/notes` database's `storage.size`, reached by the test
RESOURCES = {
    "databases/notes.yaml": {"description": "notes", "match": "/notes", "storage": {"size": "1KB"}},
    "storages/files.yaml": {
        "description": "files, versioned",
        "match": "/files",
        "object": {"versioning": True, "size": "10KB"},
    },
    "messaging/news.yaml": {"description": "news", "local": False, "channel": {"match": "news"}},
}


@pytest.fixture(scope="module")
def stash(console_cloud: UniverseHandle, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A WAT ping_pong project with a database, a storage and a channel in its config, pushed."""
    root = tmp_path_factory.mktemp("console-data") / PROJECT
    created = console_cloud.client.new_project(console_cloud.name, PROJECT, str(root), lang="wat")
    for name, resource in RESOURCES.items():
        path = root / "config" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({"id": new_resource_id(), **resource}))
    result = console_cloud.client.fixture(console_cloud.name, "pushAll", [created["id"], "", str(root)])
    assert [job["status"] for job in result["result"]["jobs"]] == ["success", "success"], result
    return created


def _open_data(driver: Any, url: str) -> None:
    driver.get(url)
    wait(driver, lambda d: d.find_elements("css selector", f'#data-project option[value="{PROJECT}"]'))
    click(driver, f'#data-project option[value="{PROJECT}"]')
    wait(driver, lambda d: "/notes" in text_of(d, "#databases-body"), what="the databases")


def test_databases_storages_and_channels_from_the_page(
    signed_in: Any,
    console_cloud: UniverseHandle,
    dream_daemon: DaemonProcess,
    stash: dict[str, Any],
    tmp_path: Path,
) -> None:
    driver, u, api = signed_in, console_cloud.name, console_cloud.client
    _open_data(driver, f"{dream_daemon.url}/console/u/{u}")
    assert "/files" in text_of(driver, "#storages-body") and "yes" in text_of(driver, "#storages-body")
    wait(driver, lambda d: "news" in text_of(d, "#channels-body"), what="the channels")

    # Keys: put from the page, put from the API, read both, delete one.
    click(driver, '#databases-body button.db-keys[data-database="/notes"]')
    wait(driver, lambda d: "no key yet" in text_of(d, "#keys-body"), what="the empty database")
    submit(driver, "value-form", database="/notes", key="greeting", text="hello from the page")
    wait(driver, lambda d: "hello from the page" in text_of(d, "#keys-body"), what="the put key")
    assert api.data_get(u, PROJECT, "/notes", "greeting") == b"hello from the page"
    api.data_put(u, PROJECT, "/notes", "outside", b"put by the API")
    click(driver, '#databases-body button.db-keys[data-database="/notes"]')
    wait(driver, lambda d: "put by the API" in text_of(d, "#keys-body"), what="the API's key")
    click(driver, '#keys-body button.db-delete[data-key="greeting"]')
    wait(driver, lambda d: "greeting" not in text_of(d, "#keys-body"), what="the key deleted")
    assert "deleted greeting from /notes" in text_of(driver, "#data-status")
    assert api.data_keys(u, PROJECT, "/notes") == ["outside"]

    # Files: two versions of one name, the first downloaded.
    click(driver, '#storages-body button.storage-files[data-storage="/files"]')
    for content in ("first words", "second words, longer"):
        submit(driver, "file-form", name="notes.txt", text=content)
        wait(driver, lambda d, c=content: f"({len(c)} bytes)" in text_of(d, "#data-status"), what="a version")
    wait(
        driver,
        lambda d: len(d.find_elements("css selector", '#files-body tr[data-file="notes.txt"]')) == 2,
        what="two versions listed",
    )
    saved = tmp_path / "downloads"
    saved.mkdir()
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(saved)})
    click(driver, '#files-body tr[data-version="1"] button.file-download')
    wait(driver, lambda d: d.find_elements("css selector", "#files-body a.download-link"), what="the link")
    wait_for(lambda: (saved / "notes.txt").is_file(), "the downloaded file", timeout=30)
    wait_for(lambda: (saved / "notes.txt").read_text() == "first words", "its bytes", timeout=30)
    driver.execute_script("document.getElementById('data').scrollIntoView();")
    shoot(driver, "data.png")

    # A channel, tailed live: a message from the page, then one from the API.
    click(driver, '#channels-body button.channel-tail[data-channel="news"]')
    wait(driver, lambda d: "following channel news" in text_of(d, "#tail-state"), what="the tail")
    submit(driver, "publish-form", text="hello channel")
    wait(driver, lambda d: "hello channel" in text_of(d, "#channel-messages"), what="the page's message")
    api.publish(u, "news", b"from the API", project=PROJECT)
    wait(driver, lambda d: "from the API" in text_of(d, "#channel-messages"), what="the API's message")
    assert len(driver.find_elements("css selector", "#channel-messages li.message")) == 2
    driver.execute_script("document.getElementById('channels').scrollIntoView();")
    shoot(driver, "channels.png")


def test_bad_data_input_gets_a_sentence_on_the_page(
    signed_in: Any, console_cloud: UniverseHandle, dream_daemon: DaemonProcess, stash: dict[str, Any]
) -> None:
    driver, u = signed_in, console_cloud.name
    _open_data(driver, f"{dream_daemon.url}/console/u/{u}")
    submit(driver, "value-form", database="/nowhere", key="k", text="v")
    shows(driver, "#data-status", "400: ", f"no database of project `{PROJECT}` matches `/nowhere`")
    assert driver.find_element("id", "data-status").get_attribute("class") == "error"

    # One put past the database's size: nothing is written, the page says why and how to fix it.
    submit(driver, "value-form", database="/notes", key="big", text="x" * DATABASE_SIZE)
    said = shows(driver, "#data-status", "is full")
    assert f"of its {DATABASE_SIZE} (keys and values count)" in said and "raise `storage.size`" in said
    assert "big" not in console_cloud.client.data_keys(u, PROJECT, "/notes")
    driver.execute_script("document.getElementById('data').scrollIntoView();")
    shoot(driver, "data-refused.png")

    # A channel the config has none for.
    submit(driver, "publish-form", channel="gossip")
    shows(
        driver, "#data-status", "no messaging channel of project", "matches `gossip`: add one to its config"
    )

    # An unknown job's log.
    driver.execute_script(
        "const b = document.createElement('button'); b.className = 'log'; b.id = 'ghost-job';"
        "b.dataset.job = 'job-0000000000000000000000ff'; document.getElementById('builds').append(b);"
    )
    click(driver, "#ghost-job")
    wait(driver, lambda d: "no job" in text_of(d, "#build-log-state"), what="the unknown job refused")
    assert (
        f"400: no job `job-0000000000000000000000ff` in universe `{u}`: `dream jobs -u {u}` lists the jobs"
        == text_of(driver, "#build-log-state")
    )
    assert dream_daemon.client().ping()
    assert console_cloud.client.universes()[u]["state"] == "running"
