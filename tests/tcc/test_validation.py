"""Every mistake a user can make in a config repo gives a located, actionable message."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from dream.tcc import CompileError, ConfigError, compile_project
from tests.tcc.conftest import TUTORIAL_FUNCTION_ID, TUTORIAL_PID, ProjectMaker

ID_HINT = r"Qm[1-9A-HJ-NP-Za-km-z]{44}"

PING = textwrap.dedent("""
    id: QmPing
    description: Returns pong
    source: .
    trigger:
      type: https
      method: GET
      paths:
        - /ping
    domains:
      - GeneratedDomain
    execution:
      timeout: 10s
      memory: 10MB
      call: ping
""").lstrip()


def errors_of(root: Path, **kwargs: object) -> list[str]:
    with pytest.raises(CompileError) as caught:
        compile_project(root, branch="main", commit="c1", **kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == "\n".join(str(e) for e in caught.value.errors)
    assert all(isinstance(e, ConfigError) for e in caught.value.errors)
    return [str(e) for e in caught.value.errors]


def one_error(root: Path, **kwargs: object) -> str:
    found = errors_of(root, **kwargs)
    assert len(found) == 1, found
    return found[0]


def with_ping(text: str) -> dict[str, str | None]:
    return {"functions/ping_pong.yaml": text}


def test_missing_root_id(make_project: ProjectMaker) -> None:
    message = one_error(make_project(files={"config.yaml": "name: demo\n"}))
    assert re.fullmatch(
        rf"config\.yaml:1: id: the project has no id; add the project's id, for example `id: {ID_HINT}`",
        message,
    )


def test_invalid_root_id(make_project: ProjectMaker) -> None:
    message = one_error(make_project(files={"config.yaml": "name: demo\nid: my project\n"}))
    assert re.fullmatch(
        rf'config\.yaml:2: id: "my project" is not a valid project id \(example: id: {ID_HINT}\)', message
    )


def test_project_id_mismatch(make_project: ProjectMaker) -> None:
    assert one_error(make_project(), project_id="QmOther") == (
        f"config.yaml:1: id: project id {TUTORIAL_PID} does not match the project this repo belongs to "
        "(QmOther); set `id: QmOther` in config.yaml"
    )


def test_missing_project_file(make_project: ProjectMaker) -> None:
    assert one_error(make_project(files={"config.yaml": None})) == (
        "config.yaml: missing project file config.yaml; a config repo needs it (with at least `id:`)"
    )


def test_resource_without_id(make_project: ProjectMaker) -> None:
    message = one_error(make_project(files=with_ping("id: ''\n" + PING.replace("id: QmPing\n", ""))))
    assert re.fullmatch(
        rf"functions/ping_pong\.yaml:1: id: the resource has no id; add a unique one, for example `id: {ID_HINT}`",
        message,
    )


def test_duplicate_resource_ids(make_project: ProjectMaker) -> None:
    root = make_project(
        files={
            "functions/another.yaml": PING.replace("QmPing", TUTORIAL_FUNCTION_ID).replace("/ping", "/other")
        }
    )
    assert one_error(root) == (
        f'functions/ping_pong.yaml:1: id: "{TUTORIAL_FUNCTION_ID}" is already used by functions/another.yaml; '
        "every resource needs its own id"
    )


def test_the_same_id_in_another_kind_or_scope_is_fine(make_project: ProjectMaker) -> None:
    # Ids are keys per kind and scope (upstream's own fixtures reuse a function id in the project scope and
    # in applications): only a second one in the same kind and scope is a problem.
    root = make_project(
        files={
            "applications/shop/config.yaml": "id: QmShop\n",
            "applications/shop/domains/d.yaml": f"id: {TUTORIAL_FUNCTION_ID}\nfqdn: shop.example.com\n",
            "applications/shop/functions/ping_pong.yaml": PING.replace(
                "QmPing", TUTORIAL_FUNCTION_ID
            ).replace("/ping", "/shop"),
        }
    )
    compiled = compile_project(root, branch="main", commit="c1")
    shop = compiled.object["applications"]["QmShop"]
    assert TUTORIAL_FUNCTION_ID in compiled.object["functions"]
    assert TUTORIAL_FUNCTION_ID in shop["functions"] and TUTORIAL_FUNCTION_ID in shop["domains"]


def test_duplicate_application_ids(make_project: ProjectMaker) -> None:
    root = make_project(
        files={"applications/a/config.yaml": "id: QmApp\n", "applications/b/config.yaml": "id: QmApp\n"}
    )
    assert one_error(root) == (
        'applications/b/config.yaml:1: id: "QmApp" is already used by applications/a/config.yaml; '
        "every application needs its own id"
    )


def test_unknown_domain(make_project: ProjectMaker) -> None:
    root = make_project(files=with_ping(PING.replace("- GeneratedDomain", "- GeneratedDomain\n  - Nope")))
    assert one_error(root) == (
        'functions/ping_pong.yaml:11: domains: unknown domain "Nope" (known domains: GeneratedDomain); '
        "add domains/Nope.yaml or fix the name"
    )


def test_application_domain_is_not_visible_to_the_project(make_project: ProjectMaker) -> None:
    root = make_project(
        files={
            "applications/shop/config.yaml": "id: QmShop\n",
            "applications/shop/domains/shopd.yaml": "id: QmShopD\nfqdn: shop.example.com\n",
            "functions/ping_pong.yaml": PING.replace("- GeneratedDomain", "- shopd"),
        }
    )
    assert one_error(root) == (
        'functions/ping_pong.yaml:10: domains: unknown domain "shopd" (known domains: GeneratedDomain); '
        "add domains/shopd.yaml or fix the name"
    )


def test_unknown_library(make_project: ProjectMaker) -> None:
    root = make_project(files=with_ping(PING.replace("source: .", "source: libraries/mathlib")))
    assert one_error(root) == (
        'functions/ping_pong.yaml:3: source: unknown library "mathlib" (no libraries are defined); '
        "add libraries/mathlib.yaml or fix the name"
    )


def test_bad_source(make_project: ProjectMaker) -> None:
    root = make_project(files=with_ping(PING.replace("source: .", "source: github.com/me/code")))
    assert one_error(root) == (
        'functions/ping_pong.yaml:3: source: "github.com/me/code" is not a source; use `source: .` '
        "(code in the code repo) or `source: libraries/<library name>`"
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "10s",
            "10x",
            'functions/ping_pong.yaml:12: execution.timeout: "10x" is not a duration (example: 10s, 1h15m)',
        ),
        (
            "10MB",
            "10XB",
            'functions/ping_pong.yaml:13: execution.memory: "10XB" is not a size (example: 10MB, 64MiB)',
        ),
        (
            "  timeout: 10s\n",
            "",
            "functions/ping_pong.yaml:11: execution.timeout: is missing (example: timeout: 10s)",
        ),
    ],
)
def test_bad_duration_and_size(make_project: ProjectMaker, old: str, new: str, expected: str) -> None:
    assert one_error(make_project(files=with_ping(PING.replace(old, new)))) == expected


def test_missing_call_inline_and_library(make_project: ProjectMaker) -> None:
    root = make_project(
        files={
            "functions/ping_pong.yaml": PING.replace("  call: ping\n", ""),
            "libraries/mathlib.yaml": "id: QmLib\nsource:\n  github: {id: '42', fullname: me/mathlib}\n",
            "functions/viaLib.yaml": """
                id: QmViaLib
                source: libraries/mathlib
                trigger: {type: pubsub, channel: jobs}
                execution:
                  timeout: 1s
                  memory: 1MB
            """,
        }
    )
    assert errors_of(root) == [
        "functions/ping_pong.yaml:11: execution.call: is missing; a function built from inline code "
        "(`source: .`) needs the exported wasm function to call (example: call: ping)",
        "functions/viaLib.yaml:4: execution.call: is missing; a function built from a library needs the "
        "exported wasm function to call (example: call: ping)",
    ]


def test_unsupported_trigger_type(make_project: ProjectMaker) -> None:
    root = make_project(files=with_ping(PING.replace("type: https", "type: smtp")))
    assert one_error(root) == (
        'functions/ping_pong.yaml:5: trigger.type: "smtp" is not a supported trigger; use one of: http, https, pubsub, p2p'
    )


def test_missing_trigger_type(make_project: ProjectMaker) -> None:
    root = make_project(files=with_ping(PING.replace("  type: https\n", "")))
    assert one_error(root) == (
        "functions/ping_pong.yaml:4: trigger.type: is missing; it is required (example: type: https)"
    )


def test_http_function_without_method_or_paths(make_project: ProjectMaker) -> None:
    root = make_project(
        files=with_ping(PING.replace("  method: GET\n", "").replace("  paths:\n    - /ping\n", ""))
    )
    assert errors_of(root) == [
        "functions/ping_pong.yaml:4: trigger.method: is missing; an http function needs an HTTP method (example: method: GET)",
        "functions/ping_pong.yaml:4: trigger.paths: is missing; an http function needs at least one path (example: paths: [/ping])",
    ]


def test_http_bad_method_and_path(make_project: ProjectMaker) -> None:
    root = make_project(
        files=with_ping(PING.replace("method: GET", "method: FETCH").replace("- /ping", "- ping"))
    )
    assert errors_of(root) == [
        'functions/ping_pong.yaml:6: trigger.method: "FETCH" is not an HTTP method; use one of: '
        "GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, CONNECT, TRACE",
        'functions/ping_pong.yaml:8: trigger.paths: "ping" must start with "/" (example: /ping)',
    ]


def test_pubsub_and_p2p_required_fields(make_project: ProjectMaker) -> None:
    root = make_project(
        files={
            "functions/ps.yaml": "id: QmPs\ntrigger: {type: pub-sub}\nexecution: {timeout: 1s, memory: 1MB, call: x}\n",
            "functions/pp.yaml": "id: QmPp\ntrigger:\n  type: p2p\nexecution: {timeout: 1s, memory: 1MB, call: x}\n",
        }
    )
    assert errors_of(root) == [
        "functions/pp.yaml:2: trigger.service: is missing; it is required (example: service: my-service)",
        "functions/pp.yaml:2: trigger.command: is missing; it is required (example: command: ping)",
        "functions/ps.yaml:2: trigger.channel: is missing; it is required (example: channel: my-channel)",
    ]


def test_duplicate_http_route_names_both_files(make_project: ProjectMaker) -> None:
    root = make_project(
        files={
            "functions/clone.yaml": PING.replace("QmPing", "QmClone").replace(
                "- /ping", "- /pong\n    - /ping"
            )
        }
    )
    # clone.yaml sorts first, so the tutorial's ping_pong.yaml is the second claimant.
    assert one_error(root) == (
        "functions/ping_pong.yaml:9: trigger.paths: GET gftxhd6h0.blackhole.localtau/ping is already served by "
        "functions/clone.yaml; change the method, domain or path of one of the two functions"
    )


def test_same_path_other_method_is_fine(make_project: ProjectMaker) -> None:
    root = make_project(
        files={"functions/post.yaml": PING.replace("QmPing", "QmPost").replace("GET", "POST")}
    )
    compiled = compile_project(root, branch="main", commit="c1")
    assert len(compiled.indexes["http/functions/localtau/blackhole/gftxhd6h0/links"]) == 2


def test_domain_without_fqdn(make_project: ProjectMaker) -> None:
    root = make_project(files={"domains/GeneratedDomain.yaml": "id: QmDom\ndescription: oops\n"})
    assert one_error(root) == (
        "domains/GeneratedDomain.yaml:1: fqdn: is missing; a domain needs its fully qualified name "
        "(example: fqdn: ping.example.com)"
    )


def test_domain_with_bad_fqdn(make_project: ProjectMaker) -> None:
    root = make_project(files={"domains/GeneratedDomain.yaml": "id: QmDom\nfqdn: not a domain\n"})
    assert one_error(root) == (
        'domains/GeneratedDomain.yaml:2: fqdn: "not a domain" is not a domain name (example: fqdn: ping.example.com)'
    )


def test_inline_certificate_without_cert_and_key(make_project: ProjectMaker) -> None:
    root = make_project(
        files={
            "domains/GeneratedDomain.yaml": "id: QmDom\nfqdn: a.example.com\ncertificate:\n  type: inline\n  cert: a.crt\n"
        }
    )
    assert one_error(root) == (
        "domains/GeneratedDomain.yaml:3: certificate.key: is missing; an inline certificate needs both "
        "`cert` and `key` (or use `type: auto`)"
    )


def test_unknown_certificate_type(make_project: ProjectMaker) -> None:
    root = make_project(
        files={"domains/GeneratedDomain.yaml": "id: QmDom\nfqdn: a.example.com\ncertificate: {type: acme}\n"}
    )
    assert one_error(root) == (
        'domains/GeneratedDomain.yaml:3: certificate.type: "acme" is not supported; use one of: auto, inline'
    )


def test_website_without_repository(make_project: ProjectMaker) -> None:
    root = make_project(
        files={
            "websites/site.yaml": "id: QmSite\ndomains: [GeneratedDomain]\nsource:\n  github:\n    id: abc\n"
        }
    )
    assert one_error(root) == (
        'websites/site.yaml:5: source.github.id: "abc" is not a GitHub repository id (a number, e.g. "123456789")'
    )


def test_unknown_smartop_tag(make_project: ProjectMaker) -> None:
    root = make_project(
        files=with_ping(PING.replace("source: .", "tags: [fast, 'smartops:guard']\nsource: ."))
    )
    assert one_error(root) == (
        'functions/ping_pong.yaml:3: tags: unknown smartop "guard" (no smartops are defined); '
        "add smartops/guard.yaml or fix the name"
    )


def test_trigger_must_be_a_mapping(make_project: ProjectMaker) -> None:
    root = make_project(
        files={
            "functions/ping_pong.yaml": "id: QmX\ntrigger: https\nexecution: {timeout: 1s, memory: 1MB, call: x}\n"
        }
    )
    assert errors_of(root)[0] == (
        "functions/ping_pong.yaml:2: trigger: must be a mapping of keys (`trigger:` then indented `key: value` lines)"
    )


def test_yaml_syntax_error_has_file_and_line_and_others_still_reported(make_project: ProjectMaker) -> None:
    root = make_project(
        files={
            "functions/broken.yaml": "id: QmBroken\ntrigger:\n  type: http\n  paths: [/a\n",
            "functions/ping_pong.yaml": PING.replace("10s", "ten seconds"),
        }
    )
    found = errors_of(root)
    assert len(found) == 2
    assert re.fullmatch(
        r"functions/broken\.yaml:5: YAML syntax error: .+; fix the indentation or quoting there", found[0]
    )
    assert found[1] == (
        'functions/ping_pong.yaml:12: execution.timeout: "ten seconds" is not a duration (example: 10s, 1h15m)'
    )


def test_non_mapping_file(make_project: ProjectMaker) -> None:
    root = make_project(files={"domains/list.yaml": "- a\n- b\n"})
    assert one_error(root) == (
        "domains/list.yaml:1: the file holds a list, not a mapping of keys; write it as `key: value` lines"
    )


def test_application_without_id(make_project: ProjectMaker) -> None:
    root = make_project(files={"applications/shop/config.yaml": "description: no id\n"})
    message = one_error(root)
    assert re.fullmatch(
        rf"applications/shop/config\.yaml:1: id: the application has no id; add a unique one, for example `id: {ID_HINT}`",
        message,
    )


def test_all_problems_are_collected(make_project: ProjectMaker) -> None:
    root = make_project(
        files={
            "config.yaml": f"id: {TUTORIAL_PID}\n",
            "functions/ping_pong.yaml": PING.replace("10s", "10x")
            .replace("10MB", "lots")
            .replace("GeneratedDomain", "Nope"),
            "domains/GeneratedDomain.yaml": "id: QmDom\n",
        }
    )
    found = errors_of(root, project_id="QmSomeoneElse")
    assert [line.split(": ")[0] for line in found] == [
        "config.yaml:1",
        "domains/GeneratedDomain.yaml:1",
        "functions/ping_pong.yaml:10",
        "functions/ping_pong.yaml:12",
        "functions/ping_pong.yaml:13",
    ]


def test_branch_with_slash_is_refused(make_project: ProjectMaker) -> None:
    with pytest.raises(ConfigError, match="must be non-empty and contain no '/'"):
        compile_project(make_project(), branch="feature/x", commit="c1")
