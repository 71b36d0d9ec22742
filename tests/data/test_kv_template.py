"""`dream new project NAME --template kv_counter`: a function counting visits in a database, pushed
through the git host, built by monkey and served, its count kept by hoarder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from dream.builders.toolchains import find_toolchains
from dream.testing.data import ProjectData
from dream.testing.harness import UniverseHandle

pytestmark = pytest.mark.e2e

TOOLCHAIN = {"go": "go", "rust": "rust", "assemblyscript": "assemblyscript"}
FOUND = {t.name: t for t in find_toolchains()}


@pytest.fixture(scope="module")
def cloud(module_universe_factory: Any) -> UniverseHandle:
    universe: UniverseHandle = module_universe_factory("kvtemplate", shape="pipeline")
    return universe


@pytest.mark.language
@pytest.mark.parametrize("lang", sorted(TOOLCHAIN))
def test_kv_counter_counts_visits_in_a_database(
    cloud: UniverseHandle, tmp_path: Path, lang: str, project_data: Callable[..., ProjectData]
) -> None:
    chain = FOUND.get(TOOLCHAIN[lang])
    if chain is None or not chain.found:
        pytest.skip(f"the {TOOLCHAIN[lang]} toolchain is missing")
    name = f"kvc-{lang}"
    project = cloud.client.new_project(
        cloud.name, name, str(tmp_path / lang), template="kv_counter", lang=lang
    )
    assert (tmp_path / lang / "config" / "databases" / "counters.yaml").is_file()
    jobs = cloud.client.fixture(cloud.name, "pushAll", [project["id"], "", ""])["result"]["jobs"]
    assert [j["status"] for j in jobs] == ["success", "success"], jobs
    url = f"http://127.0.0.1:{cloud.port('substrate')}/count"
    host = {"host": project["fqdn"]}
    assert httpx.get(url, headers=host, timeout=60).text == "visits: 1"
    assert httpx.get(url, headers=host, timeout=60).text == "visits: 2"
    data = project_data(name, universe=cloud)
    assert data.get("/counters", "visits") == b"2"
    data.put("/counters", "visits", "41")  # seeded from outside: the function reads it
    assert httpx.get(url, headers=host, timeout=60).text == "visits: 42"


def test_an_unknown_template_is_named_with_those_that_exist(cloud: UniverseHandle, tmp_path: Path) -> None:
    from dream.errors import DreamError

    with pytest.raises(DreamError, match=r"no template `nope`; templates: .*kv_counter.*ping_pong"):
        cloud.client.new_project(cloud.name, "nope", str(tmp_path / "nope"), template="nope")
