"""Compile the example projects in data/ and check the object, indexes and publish plan exactly."""

from __future__ import annotations

from dream.tcc import compile_project, publish_plan
from dream.tcc import tns_keys as keys
from tests.tcc.conftest import DATA, TUTORIAL_DOMAIN_ID, TUTORIAL_FUNCTION_ID, TUTORIAL_PID, ProjectMaker

FULL_PID = "QmRxHjnU5GD4yqw83whxDQ6JkGdouRLG85HNargUnpnFMq"
MAIN_DOMAIN = "QmfFRckHm7hc6mj2UfnVDT1ZyLyBwhjh72z4mFyePtKJpg"
SHOP_DOMAIN = "QmZALVP7LuBpDMTyM9VGTD5uXXJhSXf7H3f8tVjZUHxAuB"
APP_ID = "QmXuTz6e3W7Y9EJ2hYH4Jk1JAXT7pKnai5NqUWFPVF5Cmx"
CART_ID = "QmP5VNzL1M9vjqMXV19ypEzAWX5S7zbv8mXb1LxmC3r5ZB"
ADD_ID = "QmPQQv3YBijx4Gmcqhjn2m6eY6RWLiJUSNCKiV9ibghZJM"
LIB_ID = "QmdRcv8hvJNivyPZZo82euXvsL4LxaNcpGnDhLjBDUXqiL"
SITE_ID = "QmcreBd4ReyPHDiNxX2rxTEXHt3EgQq4Jvgs3ShYEc6KGa"
GUARD_ID = "Qmd6BKPzAkY72Daggdyp3nw9C8JzohyuXGWdkPB1Jmmdtk"


def test_tutorial_object_and_indexes() -> None:
    compiled = compile_project(DATA / "tutorial", branch="main", commit="c0ffee", project_id=TUTORIAL_PID)
    assert compiled.object == {
        "id": TUTORIAL_PID,
        "name": "tutorial",
        "description": "The first-function tutorial project",
        "notification": {"email": "dev@example.com"},
        "domains": {
            TUTORIAL_DOMAIN_ID: {
                "name": "GeneratedDomain",
                "description": "generated for the tutorial",
                "tags": [],
                "fqdn": "gftxhd6h0.blackhole.localtau",
                "cert-type": "auto",
            }
        },
        "functions": {
            TUTORIAL_FUNCTION_ID: {
                "name": "ping_pong",
                "description": "Returns pong to a ping over HTTP",
                "tags": [],
                "type": "http",
                "secure": True,
                "source": ".",
                "timeout": 10_000_000_000,
                "memory": 10_000_000,
                "call": "ping",
                "method": "GET",
                "paths": ["/ping"],
                "domains": [TUTORIAL_DOMAIN_ID],
            }
        },
    }
    index = f"branches/main/projects/{TUTORIAL_PID}/functions/{TUTORIAL_FUNCTION_ID}"
    assert compiled.indexes == {
        "domains/localtau/blackhole/gftxhd6h0/links": None,
        "http/functions/localtau/blackhole/gftxhd6h0/links": [index],
        f"wasm/project/{TUTORIAL_PID}/modules/functions/ping_pong/links": [index],
    }
    assert [r.name for r in compiled.inline_builds()] == ["ping_pong"]
    assert compiled.domain_checks[0].generated is None


def test_tutorial_publish_plan_order() -> None:
    compiled = compile_project(DATA / "tutorial", branch="main", commit="c0ffee")
    plan = publish_plan(compiled, branch="main", commit="c0ffee", project_id=TUTORIAL_PID)
    prefix = f"branches/main/commit/c0ffee/projects/{TUTORIAL_PID}"
    assert [key for key, _ in plan] == [
        "domains/localtau/blackhole/gftxhd6h0/links",
        "http/functions/localtau/blackhole/gftxhd6h0/links",
        f"wasm/project/{TUTORIAL_PID}/modules/functions/ping_pong/links",
        prefix,
        f"{prefix}/domains/{TUTORIAL_DOMAIN_ID}",
        f"{prefix}/functions/{TUTORIAL_FUNCTION_ID}",
        f"projects/{TUTORIAL_PID}/branches/main/current",
    ]
    assert plan[3][1] is compiled.object
    assert plan[5][1] == compiled.object["functions"][TUTORIAL_FUNCTION_ID]
    assert plan[-1][1] == {"current": "c0ffee"}
    # A reader following the routing index lands on the function's own key.
    link = dict(plan)["http/functions/localtau/blackhole/gftxhd6h0/links"][0]
    assert keys.index_to_resource_key(link, "c0ffee") == f"{prefix}/functions/{TUTORIAL_FUNCTION_ID}"


def test_full_project_functions_and_kinds() -> None:
    compiled = compile_project(DATA / "full", branch="main", commit="abc")
    obj = compiled.object
    add = obj["functions"][ADD_ID]
    assert add["source"] == f"libraries/{LIB_ID}"
    assert add["method"] == "POST" and add["secure"] is False and add["type"] == "http"
    assert add["domains"] == [MAIN_DOMAIN]  # given as trigger.domains
    assert add["timeout"] == 75 * 60 * 10**9 and add["memory"] == 64 * 1024**2
    assert add["smartops"] == [GUARD_ID]
    events = obj["functions"]["QmdKGmeGY5rXjDGAqYMnJ3kYNDzdNH17MfppxukatBunwr"]
    assert events["type"] == "pubsub" and events["channel"] == "events" and events["local"] is True
    assert events["source"] == "."
    rpc = obj["functions"]["Qmb5HynXffMkc6Q66q2qhuAZs7pcVGTSntxNnPyUnangEo"]
    assert (rpc["type"], rpc["service"], rpc["command"], rpc["memory"]) == ("p2p", "/rpc/v1", "ping", 1024**3)
    assert obj["domains"][MAIN_DOMAIN] == {
        "name": "main",
        "description": "",
        "tags": [],
        "fqdn": "hal.computers.com",
        "cert-type": "inline",
        "cert-file": "hal.crt",
        "key-file": "hal.key",
    }
    assert obj["websites"][SITE_ID] == {
        "name": "photos",
        "description": "a simple photo booth",
        "tags": [],
        "domains": [MAIN_DOMAIN],
        "paths": ["/photos"],
        "branch": "main",
        "provider": "github",
        "repository-id": "111111112",
        "repository-name": "taubyte-test/photo_booth",
    }
    assert obj["libraries"][LIB_ID]["path"] == "/src" and obj["libraries"][LIB_ID]["branch"] == "dreamland"
    database = obj["databases"]["QmZP2FZn14kQQtFNJHtPA5wR8ydqSgLztAcm4NapEMG32o"]
    assert (database["match"], database["access"], database["size"]) == ("/users", "host", 32 * 10**9)
    storage = obj["storages"]["QmT2VHuwELDJw3LbaQbWg7ZKH33BrNgdEiUbzFEcBM3aUH"]
    assert (storage["type"], storage["ttl"], storage["regex"]) == ("streaming", 3600 * 10**9, True)
    chat = obj["messaging"]["QmakCzmLvey2DTyXykWECh65rs46dPtTWo3GwdepZzYhh3"]
    assert (chat["match"], chat["mqtt"], chat["websocket"]) == ("chat", True, False)
    assert obj["services"]["QmUL4NvXgct6pyD4wywpzccWxwwFFWrF2uQkzoYE5CtdRT"]["protocol"] == "/simple/v1"
    assert "tags" not in obj  # project tags are not published


def test_full_project_application() -> None:
    compiled = compile_project(DATA / "full", branch="main", commit="abc")
    app = compiled.object["applications"][APP_ID]
    assert app["name"] == "shop" and app["description"] == "the shop application"
    cart = app["functions"][CART_ID]
    # App functions see their own domains and the project's.
    assert cart["domains"] == [SHOP_DOMAIN, MAIN_DOMAIN]
    assert cart["method"] == "GET" and cart["secure"] is True
    assert SHOP_DOMAIN in app["domains"] and SHOP_DOMAIN not in compiled.object["domains"]
    cart_index = f"branches/main/projects/{FULL_PID}/applications/{APP_ID}/functions/{CART_ID}"
    add_index = f"branches/main/projects/{FULL_PID}/functions/{ADD_ID}"
    idx = compiled.indexes
    assert idx["http/functions/com/computers/shop/links"] == [cart_index]
    assert idx["http/functions/com/computers/hal/links"] == [add_index, cart_index]
    assert idx[f"wasm/project/{FULL_PID}/application/{APP_ID}/modules/functions/cart/links"] == [cart_index]
    built = {(r.name, r.app_name, r.app_id) for r in compiled.inline_builds()}
    assert built == {
        ("events", None, None),
        ("rpc", None, None),
        ("guard", None, None),
        ("cart", "shop", APP_ID),
    }
    plan = dict(publish_plan(compiled, branch="main", commit="abc", project_id=FULL_PID))
    assert (
        plan[f"branches/main/commit/abc/projects/{FULL_PID}/applications/{APP_ID}/functions/{CART_ID}"]
        == cart
    )


def test_full_project_repository_and_http_indexes() -> None:
    compiled = compile_project(DATA / "full", branch="main", commit="abc")
    idx = compiled.indexes
    site_index = f"branches/main/projects/{FULL_PID}/websites/{SITE_ID}"
    lib_index = f"branches/main/projects/{FULL_PID}/libraries/{LIB_ID}"
    assert idx["http/websites/com/computers/hal/links"] == [site_index]
    assert idx[f"repositories/github/111111112/{FULL_PID}/type"] == keys.REPO_TYPE_WEBSITE
    assert idx[f"repositories/github/111111112/{FULL_PID}/resources/{SITE_ID}"] == site_index
    assert idx[f"repositories/github/222222222/{FULL_PID}/type"] == keys.REPO_TYPE_LIBRARY
    assert idx[f"repositories/github/222222222/{FULL_PID}/resources/{LIB_ID}"] == lib_index
    assert idx[f"wasm/project/{FULL_PID}/modules/libraries/mathlib/links"] == [lib_index]
    assert idx[f"wasm/project/{FULL_PID}/modules/websites/photos/links"] == [site_index]
    assert idx[f"wasm/project/{FULL_PID}/modules/smartops/guard/links"] == [
        f"branches/main/projects/{FULL_PID}/smartops/{GUARD_ID}"
    ]
    assert idx["domains/com/computers/hal/links"] is None
    assert idx["domains/com/computers/shop/links"] is None
    assert [r.name for r in compiled.by_repository(111111112)] == ["photos"]
    assert [r.name for r in compiled.by_repository("222222222")] == ["mathlib"]


def test_branch_is_in_every_index(make_project: ProjectMaker) -> None:
    compiled = compile_project(make_project(), branch="dev", commit="c1")
    links = compiled.indexes["http/functions/localtau/blackhole/gftxhd6h0/links"]
    assert links == [f"branches/dev/projects/{TUTORIAL_PID}/functions/{TUTORIAL_FUNCTION_ID}"]


def test_website_top_level_paths_and_trigger_domains_alias(make_project: ProjectMaker) -> None:
    root = make_project(
        files={
            "websites/site.yaml": """
                id: QmSite1
                domains: [GeneratedDomain]
                paths: [/, /docs]
                source:
                  github: {id: 77, fullname: me/site}
            """,
            "functions/ping_pong.yaml": """
                id: QmFunc1
                trigger: {type: HTTPS, method: get, paths: [/ping], domains: [GeneratedDomain]}
                execution: {timeout: 1s, memory: 1MB, call: ping}
            """,
        }
    )
    compiled = compile_project(root, branch="main", commit="c1")
    site = compiled.object["websites"]["QmSite1"]
    assert site["paths"] == ["/", "/docs"] and site["repository-id"] == "77" and site["branch"] == "main"
    assert compiled.object["functions"]["QmFunc1"]["domains"] == [TUTORIAL_DOMAIN_ID]
    assert compiled.object["functions"]["QmFunc1"]["method"] == "GET"


def test_generated_domain_pattern_is_reported_not_enforced(make_project: ProjectMaker) -> None:
    root = make_project(
        files={
            "domains/custom.yaml": "id: QmCustom\nfqdn: api.example.com\n",
            "domains/gen.yaml": "id: QmGen\nfqdn: qkfkkvlaw2.g.blackhole.localtau\n",
        }
    )
    compiled = compile_project(
        root, branch="main", commit="c1", generated_domain_re=r"^[^.]+\.g\.blackhole\.localtau$"
    )
    checks = {check.fqdn: check.generated for check in compiled.domain_checks}
    assert checks == {
        "gftxhd6h0.blackhole.localtau": False,
        "api.example.com": False,
        "qkfkkvlaw2.g.blackhole.localtau": True,
    }
