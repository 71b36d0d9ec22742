"""Bad input to every route of the nodes' p2p APIs (and patrick's HTTP routes and webhook), on real nodes.

Each route gets bodies that are not JSON, not objects, with missing fields, wrong types and unknown fields,
and bad ids or query parameters; each must be answered 400 with `{"code": 400, "error": ...}` whose
sentence names the field (or the body, the header, the parameter). Afterwards every node is still up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from dream.clients import Clients, auth, hoarder, patrick, seer, tns
from dream.githost.payload import push_payload
from dream.hoarder.cid import cid_of
from dream.http.webhooks import sign, webhook_headers
from dream.node.security import UniverseAuth
from dream.testing.harness import UniverseHandle
from tests.services.node_clients import call

pytestmark = pytest.mark.e2e

SHAPE = {
    "Services": {"tns": {}, "auth": {}, "hoarder": {}, "seer": {}, "patrick": {}},
    "Simples": {},
}
JOB = "job-0123456789abcdef01234567"
CID = cid_of(b"a blob")
REPO_ID = 4242


@dataclass
class Bad:
    """One bad request and the words its refusal must contain."""

    method: str
    path: str
    expect: tuple[str, ...]
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    label: str = ""


def raw(value: Any) -> bytes:
    return json.dumps(value).encode()


def body_cases(
    method: str, path: str, valid: dict[str, Any], wrong: dict[str, list[Any]], required: list[str]
) -> list[Bad]:
    """Not JSON, not an object, each required field left out, each wrong value, an unknown field."""
    route = f"{method} {path}"
    cases = [
        Bad(method, path, (route, "not JSON"), b'{"unfinished": ', label="not JSON"),
        Bad(method, path, (route, "not JSON"), b"\xff\xfe", label="not UTF-8"),
        Bad(method, path, (route, "must be a JSON object"), raw([valid]), label="a list"),
        Bad(method, path, (route, "`zzz`"), raw({**valid, "zzz": 1}), label="unknown field"),
    ]
    for name in required:
        missing = {k: v for k, v in valid.items() if k != name}
        cases.append(Bad(method, path, (route, f"field `{name}` is missing"), raw(missing), label=name))
    for name, values in wrong.items():
        # `a.b` sets a field inside `a`; `a[0]` names the item of the list given whole as `a`.
        for value in values:
            changed = _nested(valid, name, value) if "." in name else {**valid, name.split("[")[0]: value}
            cases.append(
                Bad(method, path, (route, f"field `{name}`"), raw(changed), label=f"{name}={value!r}")
            )
    return cases


def _nested(valid: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    """`valid` with the dotted field `name` (e.g. `repository.id`) set to `value`, or removed (Ellipsis)."""
    copy = json.loads(json.dumps(valid))
    *parents, last = name.split(".")
    target = copy
    for part in parents:
        target = target[part]
    if value is ...:
        target.pop(last)
    else:
        target[last] = value
    return copy


HOLDER = {"jid": JOB, "monkey": "m1", "lease": "abc"}
P2P_ROUTES: dict[tuple[str, str], list[Bad]] = {
    ("tns", f"POST {tns.PUSH}"): body_cases(
        "POST", tns.PUSH, {"path": "a/b", "data": 1}, {"path": [5, "", ["a", 5], None]}, ["path"]
    ),
    ("tns", f"POST {tns.PUSH_MANY}"): body_cases(
        "POST",
        tns.PUSH_MANY,
        {"items": [["a/b", 1]]},
        {"items": ["a/b", {}], "items[0]": [[["a", 1, 2]]], "items[0][0]": [[[5, 1]]]},
        ["items"],
    ),
    ("tns", f"POST {tns.FETCH}"): [
        *body_cases("POST", tns.FETCH, {"path": "a/b"}, {"path": [5, True]}, ["path"]),
        Bad("POST", tns.FETCH, ("not JSON", "NaN"), b'{"path": NaN}'),
        Bad("POST", tns.FETCH, ("not JSON", "nests too deeply"), b'{"path": ' + b"[" * 100_000),
        Bad("POST", tns.FETCH, ("not JSON", "digits"), b'{"path": 1' + b"0" * 5000 + b"}"),
    ],
    ("tns", f"POST {tns.FETCH_MANY}"): body_cases(
        "POST",
        tns.FETCH_MANY,
        {"paths": ["a/b"]},
        {"paths": ["a/b"], "paths[0]": [[5], [["a", 5]]]},
        ["paths"],
    ),
    ("tns", f"POST {tns.LOOKUP}"): [
        *body_cases("POST", tns.LOOKUP, {"prefix": "a"}, {"prefix": [5], "regex": ["yes", 1]}, ["prefix"]),
        Bad("POST", tns.LOOKUP, ("`prefix`", "regular expression"), raw({"prefix": "(", "regex": True})),
        Bad("POST", tns.LOOKUP, ("`prefix`",), raw({"prefix": "/"})),
    ],
    ("tns", f"POST {tns.LIST}"): body_cases("POST", tns.LIST, {"depth": 1}, {"depth": ["2", 0, 1.5]}, []),
    ("tns", f"POST {tns.DELETE}"): body_cases("POST", tns.DELETE, {"path": "a/b"}, {"path": [5]}, ["path"]),
    ("tns", f"GET {tns.CHANGES}"): [
        Bad("GET", f"{tns.CHANGES}?{query}", (f"query parameter `{name}`",), label=query)
        for name, query in [
            ("after", "after=abc"),
            ("after", "after=-5"),
            ("after", "after=1.5"),
            ("after", "after="),
            ("wait", "wait=nan"),
            ("wait", "wait=inf"),
            ("wait", "wait=-1"),
            ("wait", "wait=soon"),
        ]
    ],
    ("patrick", f"POST {patrick.DEQUEUE}"): [
        *body_cases(
            "POST",
            patrick.DEQUEUE,
            {"monkey": "m1", "wait": 0},
            {"monkey": [5, ""], "wait": ["1", -1, 10**400]},
            ["monkey"],
        ),
        Bad("POST", patrick.DEQUEUE, ("field `wait`",), b'{"monkey": "m1", "wait": 1e400}'),
    ],
    ("patrick", f"POST {patrick.HEARTBEAT}"): body_cases(
        "POST",
        patrick.HEARTBEAT,
        HOLDER,
        {"jid": ["job-1", 5, "job-../../x"], "monkey": [None], "lease": [7]},
        ["jid", "monkey"],
    ),
    ("patrick", f"POST {patrick.DEFER}"): body_cases(
        "POST",
        patrick.DEFER,
        {**HOLDER, "after": 0.2, "reason": "later"},
        {"after": [-1, "soon"], "reason": [5], "jid": ["nope"]},
        ["jid", "monkey"],
    ),
    ("patrick", f"POST {patrick.DONE}"): body_cases(
        "POST",
        patrick.DONE,
        {**HOLDER, "logs": {JOB: CID}, "assets": {}, "error": ""},
        {"logs": [[CID]], "logs.job-0123456789abcdef01234567": [5, "not a cid"], "assets": ["x"]},
        ["jid", "monkey"],
    ),
    ("patrick", f"POST {patrick.FAILED}"): body_cases(
        "POST",
        patrick.FAILED,
        {**HOLDER, "error": "it broke"},
        {"error": [5, None], "monkey": [3]},
        ["jid", "monkey"],
    ),
    ("patrick", f"GET {patrick.JOB}"): [
        Bad("GET", patrick.JOB.format(jid=jid), ("`jid` in the path",), label=jid)
        for jid in ["nope", "job-XYZ", "job-0123%00"]
    ],
    ("hoarder", f"POST {hoarder.STASH}"): [
        Bad("POST", hoarder.STASH, ("header `x-cid`",), b"x", {"x-cid": "nope"}),
        Bad("POST", hoarder.STASH, ("header `x-cid`",), b"x", {"x-cid": "../../etc/passwd"}),
        Bad("POST", hoarder.STASH, ("cid mismatch", "header `x-cid`"), b"x", {"x-cid": CID}),
    ],
    ("hoarder", f"POST {hoarder.REPLICA}"): [
        Bad("POST", hoarder.REPLICA, ("header `x-cid`",), b"x", {"x-cid": "Qm!"}),
        Bad("POST", hoarder.REPLICA, ("cid mismatch", "header `x-cid`"), b"x", {"x-cid": CID}),
    ],
    ("hoarder", f"GET {hoarder.BLOB}"): [
        Bad("GET", hoarder.BLOB.format(cid=cid), ("`cid` in the path",), label=cid)
        for cid in ["bafk%00", "bafk..", "nope", "bafk%C3%A9"]
    ],
    ("hoarder", f"GET {hoarder.HAS}"): [
        Bad("GET", hoarder.HAS.format(cid=cid), ("`cid` in the path",), label=cid) for cid in ["bafk%00", "x"]
    ],
    ("auth", f"POST {auth.REPOSITORIES}"): body_cases(
        "POST",
        auth.REPOSITORIES,
        {"id": "77", "fullname": "me/repo", "url": "", "project": ""},
        {
            "id": ["abc", -1, True, 1.5],
            "fullname": [7, "no-slash", "a/b/c"],
            "url": [5],
            "project": ["bad id!"],
        },
        ["id", "fullname"],
    ),
    ("auth", f"GET {auth.REPOSITORY}"): [
        Bad("GET", auth.REPOSITORY.format(id=rid), ("`id` in the path",), label=rid)
        for rid in ["abc", "1%00"]
    ],
    ("auth", f"DELETE {auth.REPOSITORY}"): [
        Bad("DELETE", auth.REPOSITORY.format(id="abc"), ("`id` in the path",)),
    ],
    ("auth", f"POST {auth.PROJECTS}"): body_cases(
        "POST",
        auth.PROJECTS,
        {"id": "QmInputs", "name": "inputs", "config": "1", "code": "2"},
        {"id": [5, "bad id!"], "name": ["", 3], "config": ["x"], "code": [None]},
        ["id", "name", "config", "code"],
    ),
    ("auth", f"GET {auth.PROJECT}"): [
        Bad("GET", auth.PROJECT.format(id="bad%00id"), ("`id` in the path",)),
        Bad("GET", auth.PROJECT.format(id="-dash"), ("`id` in the path",)),
    ],
    ("auth", f"GET {auth.HOOK}"): [Bad("GET", auth.HOOK.format(hook="abc"), ("`hook` in the path",))],
    ("auth", f"POST {auth.DOMAINS}"): body_cases(
        "POST",
        auth.DOMAINS,
        {"fqdn": "hal.computers.com", "project": "QmInputs"},
        {"fqdn": [5, "bad domain", "a..b"], "project": [["x"]]},
        ["fqdn", "project"],
    ),
    ("auth", f"GET {auth.DOMAIN}"): [
        Bad("GET", auth.DOMAIN.format(fqdn=fqdn), ("`fqdn` in the path",), label=fqdn)
        for fqdn in ["bad%20domain", "a%00b"]
    ],
    ("seer", f"POST {seer.ANNOUNCE}"): [
        *body_cases(
            "POST",
            seer.ANNOUNCE,
            {
                "id": "peer-1",
                "name": "tns",
                "kind": "service",
                "index": 0,
                "pid": 1,
                "ports": {"p2p": 1},
                "universe": "u",
            },
            {
                "kind": ["node"],
                "index": ["0", -1],
                "pid": [1.5],
                "ports": [[1]],
                "ports.p2p": ["1", 70000],
                "registry": ["yes"],
            },
            ["id", "name", "kind", "index", "pid", "ports", "universe"],
        ),
        Bad(
            "POST",
            seer.ANNOUNCE,
            ("field `ports`", '"p2p"'),
            raw(
                {
                    "id": "p",
                    "name": "tns",
                    "kind": "service",
                    "index": 0,
                    "pid": 1,
                    "ports": {},
                    "universe": "u",
                }
            ),
        ),
    ],
    ("tns", "GET|PUT|DELETE /kv/{key}"): [
        Bad("GET", "/kv/a%00b", ("`key` in the path",)),
        Bad("PUT", "/kv/a%09b", ("`key` in the path",), b"value"),
        Bad("DELETE", "/kv/", ("`key` in the path", "empty")),
    ],
}

HTTP_ROUTES: dict[tuple[str, str], list[Bad]] = {
    ("patrick", "GET /logs/{cid}"): [
        Bad("GET", f"/logs/{cid}", ("`cid` in the path",), label=cid)
        for cid in ["bafk%00", "bafk", "Qm..", "%20"]
    ],
    ("patrick", "GET /job/{jid}"): [Bad("GET", "/job/nope", ("`jid` in the path",))],
    ("patrick", "POST /cancel/{jid}"): [Bad("POST", "/cancel/job-1%00", ("`jid` in the path",))],
    ("patrick", "POST /retry/{jid}"): [Bad("POST", "/retry/job-", ("`jid` in the path",))],
    ("patrick", "GET /jobs/{project}"): [Bad("GET", "/jobs/bad%00", ("`project` in the path",))],
    ("patrick", f"POST {patrick.WEBHOOK}"): [
        Bad(
            "POST",
            patrick.WEBHOOK.format(hook="abc"),
            ("`hook` in the path",),
            b"{}",
            sign(b"{}", "any secret"),
        ),
    ],
    ("auth", "GET /projects/{id}"): [Bad("GET", "/projects/bad%00", ("`id` in the path",))],
    ("auth", "GET /repository/github/{id}"): [Bad("GET", "/repository/github/x1", ("`id` in the path",))],
}


@pytest.fixture(scope="module")
def nodes(module_universe_factory) -> UniverseHandle:  # type: ignore[no-untyped-def]
    return module_universe_factory("inputs", config=SHAPE)


@pytest.fixture(scope="module")
def key(nodes: UniverseHandle) -> bytes:
    return nodes.key()


def send(nodes: UniverseHandle, key: bytes, service: str, protocol: str, bad: Bad) -> httpx.Response:
    """The request, signed as a member of the universe (p2p) over the path as sent, as nodes sign."""
    url = f"http://127.0.0.1:{nodes.port(service, protocol)}{bad.path}"
    signer = UniverseAuth(key, peer="test", universe=nodes.id) if protocol == "p2p" else None
    return httpx.request(
        bad.method, url, content=bad.content, headers=dict(bad.headers), auth=signer, timeout=10
    )


def refused(response: httpx.Response, bad: Bad) -> None:
    """400, the documented shape, and a sentence that names what is wrong."""
    context = (
        f"{bad.method} {bad.path} {bad.label or bad.content[:80]!r} → {response.status_code} {response.text}"
    )
    assert response.status_code == 400, context
    assert response.headers["content-type"] == "application/json", context
    answer = response.json()
    assert set(answer) == {"code", "error"} and answer["code"] == 400, context
    for words in bad.expect:
        assert words in answer["error"], f"{words!r} not in the sentence: {context}"


@pytest.mark.parametrize("route", list(P2P_ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
def test_p2p_route_refuses_bad_input(nodes: UniverseHandle, key: bytes, route: tuple[str, str]) -> None:
    for bad in P2P_ROUTES[route]:
        refused(send(nodes, key, route[0], "p2p", bad), bad)


@pytest.mark.parametrize("route", list(HTTP_ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
def test_http_route_refuses_bad_input(nodes: UniverseHandle, key: bytes, route: tuple[str, str]) -> None:
    for bad in HTTP_ROUTES[route]:
        refused(send(nodes, key, route[0], "http", bad), bad)


@pytest.fixture(scope="module")
def hook(nodes: UniverseHandle) -> dict[str, Any]:
    """A repository registered with auth: its hook id and secret sign deliveries to patrick."""
    registered = call(
        nodes,
        lambda clients: clients.auth.register_repository(
            str(REPO_ID), "me/inputs", url="http://127.0.0.1:1/me/inputs.git"
        ),
    )
    return dict(registered["hook"])


def push_event() -> dict[str, Any]:
    repository = {
        "id": REPO_ID,
        "owner": "me",
        "name": "inputs",
        "full_name": "me/inputs",
        "clone_url": "http://127.0.0.1:1/me/inputs.git",
        "html_url": "http://127.0.0.1:1/me/inputs",
    }
    return push_payload(repository=repository, ref="refs/heads/main", before="", after="ab" * 20, commits=[])


def deliver(nodes: UniverseHandle, hook: dict[str, Any], body: bytes, *, secret: str = "") -> httpx.Response:
    headers = webhook_headers(body, secret=secret or hook["secret"], hook_id=hook["id"], repo_id=REPO_ID)
    return httpx.post(webhook(nodes, hook), content=body, headers=headers)


def webhook(nodes: UniverseHandle, hook: dict[str, Any]) -> str:
    return patrick.webhook_url(f"http://127.0.0.1:{nodes.port('patrick')}", hook["id"])


def jobs(nodes: UniverseHandle) -> list[dict[str, Any]]:
    return [job.to_json() for job in call(nodes, lambda clients: clients.patrick.jobs())]


WEBHOOK_CASES: list[tuple[str, Any, str]] = [
    ("not JSON", b"{'ref': ", "not JSON"),
    ("a list", [1], "must be a JSON object"),
    ("no repository", ("repository", ...), "field `repository` is missing"),
    ("no ref", ("ref", ...), "field `ref` is missing"),
    ("no after", ("after", ...), "field `after` is missing"),
    ("no repository.id", ("repository.id", ...), "field `repository.id` is missing"),
    ("repository not an object", ("repository", "me/inputs"), "field `repository`"),
    ("repository.id a word", ("repository.id", "abc"), "field `repository.id`"),
    ("repository.id true", ("repository.id", True), "field `repository.id`"),
    ("ref a number", ("ref", 5), "field `ref`"),
    ("ref not a ref", ("ref", "main"), "field `ref`"),
    ("after not a commit", ("after", "HEAD"), "field `after`"),
    ("before a number", ("before", 0), "field `before`"),
    ("head_commit a string", ("head_commit", "abc"), "field `head_commit`"),
    (
        "head_commit.message a number",
        ("head_commit", {"id": "x", "message": 5}),
        "field `head_commit.message`",
    ),
    ("pushed_at a word", ("repository.pushed_at", "yesterday"), "field `repository.pushed_at`"),
    ("clone_url a number", ("repository.clone_url", 5), "field `repository.clone_url`"),
]


@pytest.mark.parametrize("case", WEBHOOK_CASES, ids=[c[0] for c in WEBHOOK_CASES])
def test_webhook_payload_is_checked_after_the_signature(
    nodes: UniverseHandle, hook: dict[str, Any], case: tuple[str, Any, str]
) -> None:
    _, change, words = case
    if isinstance(change, bytes):
        body = change
    elif isinstance(change, list):
        body = raw(change)
    else:
        body = raw(_nested(push_event(), *change))
    before = len(jobs(nodes))
    # Unsigned or wrongly signed, the same payload is refused for that reason first: it is never read.
    unsigned = {
        k: v for k, v in webhook_headers(body, secret="x", hook_id=1, repo_id=1).items() if "Hub" not in k
    }
    assert httpx.post(webhook(nodes, hook), content=body, headers=unsigned).status_code == 401
    assert deliver(nodes, hook, body, secret="not the secret").status_code == 403
    answer = deliver(nodes, hook, body)
    assert answer.status_code == 400, answer.text
    assert set(answer.json()) == {"code", "error"}
    error = answer.json()["error"]
    assert words in error and f"the push payload of hook `{hook['id']}`" in error, error
    assert len(jobs(nodes)) == before  # nothing was queued


def test_a_valid_push_event_still_makes_a_job(nodes: UniverseHandle, hook: dict[str, Any]) -> None:
    """The control: the checks above refuse what is wrong, not what GitHub (or dream's git host) sends."""
    answer = deliver(nodes, hook, raw(push_event()))
    assert answer.status_code in (200, 201), answer.text
    job = next(j for j in jobs(nodes) if j["id"] == answer.json()["job"])
    assert job["meta"]["repository"]["id"] == str(REPO_ID) and job["meta"]["after"] == "ab" * 20


@pytest.mark.parametrize("protocol", ["p2p", "http"])
def test_an_unknown_route_or_method_answers_in_the_error_shape(
    nodes: UniverseHandle, key: bytes, protocol: str
) -> None:
    signer = UniverseAuth(key, peer="test", universe=nodes.id) if protocol == "p2p" else None
    base = f"http://127.0.0.1:{nodes.port('patrick', protocol)}"
    for method, path, status, words in (
        ("GET", "/no/such/route", 404, "no route GET /no/such/route"),
        ("DELETE", "/health" if protocol == "p2p" else "/ping", 405, "DELETE is not allowed on"),
    ):
        response = httpx.request(method, base + path, auth=signer, timeout=10)
        assert response.status_code == status, response.text
        body = response.json()
        assert set(body) == {"code", "error"} and body["code"] == status, body
        assert words in body["error"], body


def test_every_node_is_still_up_after_all_of_it(nodes: UniverseHandle, key: bytes) -> None:
    """Every bad request again, then each node answers its health probe with the pid it had before."""
    before = {n["name"]: n["pid"] for n in nodes.nodes()}
    for routes, protocol in ((P2P_ROUTES, "p2p"), (HTTP_ROUTES, "http")):
        for (service, _), cases in routes.items():
            for bad in cases:
                assert send(nodes, key, service, protocol, bad).status_code == 400
    with nodes.node_client() as http:
        for node in nodes.nodes():
            health = http.get(f"http://127.0.0.1:{node['value']['p2p']}/health")
            assert health.status_code == 200 and health.json()["pid"] == before[node["name"]], node["name"]

    async def push_and_fetch(clients: Clients) -> Any:
        await clients.tns.push("inputs/ok", {"a": 1})
        return await clients.tns.fetch(["inputs", "ok"])

    assert call(nodes, push_and_fetch) == {"a": 1}
    for node in nodes.nodes():
        log = nodes.client.logs(nodes.name, node["id"])["text"]
        assert "Traceback" not in log, f"{node['name']} logged a traceback:\n{log[-3000:]}"
