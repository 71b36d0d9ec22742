"""Where things live in TNS (keys are `/`-joined segment strings, without a leading slash).

Index paths are commit-less (`branches/<b>/projects/<pid>/functions/<id>`): routing indexes point
at them, and a reader turns one into the commit-qualified resource key with the project's current
commit (`index_to_resource_key`).
"""

from __future__ import annotations

import hashlib

from dream.base58 import encode as base58

KINDS: tuple[str, ...] = (
    "functions",
    "websites",
    "libraries",
    "domains",
    "databases",
    "storages",
    "messaging",
    "services",
    "smartops",
)
HTTP_KINDS: tuple[str, ...] = ("functions", "websites")

# Repository type numbers stored at `repositories/github/<repoId>/<pid>/type`.
REPO_TYPE_CONFIG = 1
REPO_TYPE_CODE = 2
REPO_TYPE_WEBSITE = 3
REPO_TYPE_LIBRARY = 4


def _segment(value: str, what: str) -> str:
    text = str(value)
    if not text or "/" in text:
        raise ValueError(f"{what} {text!r} cannot be a TNS path segment (it is empty or contains '/')")
    return text


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown resource kind {kind!r}; expected one of {', '.join(KINDS)}")
    return kind


def split_key(key: str) -> list[str]:
    """The segment list the TNS wire commands take (`path: [...]`)."""
    return [part for part in key.split("/") if part]


def reversed_fqdn(fqdn: str) -> list[str]:
    """`a.b.com` → `["com", "b", "a"]` (lower-cased, trailing dot ignored)."""
    labels = [label for label in fqdn.strip().lower().rstrip(".").split(".")]
    if not labels or any(not label or "/" in label for label in labels):
        raise ValueError(f"{fqdn!r} is not a domain name (example: ping.example.com)")
    return labels[::-1]


def http_links_key(kind: str, fqdn: str) -> str:
    """`http/<functions|websites>/<reversed fqdn>/links`: the HTTP routing index of a host."""
    if kind not in HTTP_KINDS:
        raise ValueError(f"HTTP routing exists for functions and websites, not {kind!r}")
    return "/".join(["http", kind, *reversed_fqdn(fqdn), "links"])


def domain_links_key(fqdn: str) -> str:
    """`domains/<reversed fqdn>/links`: marks a domain as served by some project."""
    return "/".join(["domains", *reversed_fqdn(fqdn), "links"])


def project_prefix(branch: str, commit: str, pid: str) -> str:
    """`branches/<b>/commit/<c>/projects/<pid>`: where the compiled project object is pushed."""
    return f"branches/{_segment(branch, 'branch')}/commit/{_segment(commit, 'commit')}/projects/{_segment(pid, 'project id')}"


def _scoped(kind: str, res_id: str, app: str | None) -> str:
    app_part = f"applications/{_segment(app, 'application id')}/" if app else ""
    return f"{app_part}{_kind(kind)}/{_segment(res_id, 'resource id')}"


def resource_key(branch: str, commit: str, pid: str, kind: str, res_id: str, app: str | None = None) -> str:
    """`branches/<b>/commit/<c>/projects/<pid>[/applications/<app>]/<kind>/<id>`: one resource's config."""
    return f"{project_prefix(branch, commit, pid)}/{_scoped(kind, res_id, app)}"


def index_key(branch: str, pid: str, kind: str, res_id: str, app: str | None = None) -> str:
    """`branches/<b>/projects/<pid>[/applications/<app>]/<kind>/<id>`: the commit-less index path."""
    return f"branches/{_segment(branch, 'branch')}/projects/{_segment(pid, 'project id')}/{_scoped(kind, res_id, app)}"


def current_key(pid: str, branch: str) -> str:
    """`projects/<pid>/branches/<b>/current`: holds `{current: <commit>}` of the last published config."""
    return f"projects/{_segment(pid, 'project id')}/branches/{_segment(branch, 'branch')}/current"


def wasm_module_links_key(pid: str, kind: str, name: str, app: str | None = None) -> str:
    """`wasm/project/<pid>[/application/<app>]/modules/<kind>/<name>/links` → index paths."""
    app_part = f"/application/{_segment(app, 'application id')}" if app else ""
    return f"wasm/project/{_segment(pid, 'project id')}{app_part}/modules/{_kind(kind)}/{_segment(name, 'name')}/links"


def asset_hash(pid: str, res_id: str, branch: str) -> str:
    """sha2-256 multihash of `pid + res_id + branch`, base58btc without the multibase prefix.

    That is the same text as a CIDv0 (`Qm…`), the shape upstream's asset keys have.
    """
    # A multihash is <code 0x12 = sha2-256><length 0x20><digest>; base58btc of it reads `Qm…`.
    digest = hashlib.sha256(f"{pid}{res_id}{branch}".encode()).digest()
    return base58(b"\x12\x20" + digest)


def asset_key(pid: str, res_id: str, branch: str) -> str:
    """`assets/<hash>`: holds the CID of the built artifact of a resource on a branch."""
    return f"assets/{asset_hash(pid, res_id, branch)}"


def repo_type_key(repo_id: str | int, pid: str) -> str:
    """`repositories/github/<repoId>/<pid>/type` → one of the `REPO_TYPE_*` numbers."""
    return f"repositories/github/{_segment(str(repo_id), 'repository id')}/{_segment(pid, 'project id')}/type"


def repo_resources_prefix(repo_id: str | int, pid: str) -> str:
    """`repositories/github/<repoId>/<pid>/resources`: lookup prefix of the resources a repo builds."""
    return f"repositories/github/{_segment(str(repo_id), 'repository id')}/{_segment(pid, 'project id')}/resources"


def repo_resource_key(repo_id: str | int, pid: str, res_id: str) -> str:
    """`repositories/github/<repoId>/<pid>/resources/<resId>` → the resource's index path."""
    return f"{repo_resources_prefix(repo_id, pid)}/{_segment(res_id, 'resource id')}"


def resolve_repo_key(repo_id: str | int) -> str:
    """`resolve/repo/github/<repoId>`: patrick's `{id, ssh}` record of a repository."""
    return f"resolve/repo/github/{_segment(str(repo_id), 'repository id')}"


def index_to_resource_key(index_path: str, commit: str) -> str:
    """`branches/<b>/projects/...` → `branches/<b>/commit/<c>/projects/...`."""
    parts = split_key(index_path)
    if len(parts) < 4 or parts[0] != "branches" or parts[2] != "projects":
        raise ValueError(f"{index_path!r} is not an index path (expected branches/<b>/projects/<pid>/...)")
    return "/".join([*parts[:2], "commit", _segment(commit, "commit"), *parts[2:]])
