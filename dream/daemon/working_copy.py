"""Deploy a change in a project's working copies without a commit: what `dream watch` asks for on a save.

The changed files name the resources to redo, and only those: a file under `config/` republishes the
config (compiled as monkey compiles it), and builds a function it adds that was never built; one under a function's folder in `code/` rebuilds that function;
one under `websites/<site>/` or `libraries/<lib>/` rebuilds the resources built from that repository. Each
goes through monkey's own steps (`dream.monkey.pipeline`: compile and publish to tns, build in the sandbox,
stash in hoarder, point the asset key at the new CID), as a push would. A failed build publishes nothing,
so the last good version keeps serving.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dream.clients import Clients
from dream.errors import DreamError
from dream.node.peers import PeerClient

CONFIG_DIR = "config"
CODE_DIR = "code"
REPOSITORY_DIRS = {"websites": "websites", "libraries": "libraries"}  # folder → resource kind built from it

# One change at a time per project: two saves must not publish out of order.
_locks: dict[tuple[str, str], asyncio.Lock] = {}


@dataclass
class Outcome:
    """What one change did: each resource redone, with its time and where to try it, or why it failed."""

    project: str
    branch: str
    built: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # changed files that belong to no resource
    log: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "branch": self.branch,
            "built": self.built,
            "failed": self.failed,
            "ignored": self.ignored,
            "log": self.log[-200:],
        }


def lock_for(universe: str, project: str) -> asyncio.Lock:
    return _locks.setdefault((universe, project), asyncio.Lock())


def _under(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def _scopes(obj: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    return [(None, obj), *((app.get("name"), app) for app in (obj.get("applications") or {}).values())]


def _urls(obj: dict[str, Any], kind: str, res_id: str, port: int | None) -> list[str]:
    """`curl` lines that reach a function or website of the published config on a substrate."""
    if port is None:
        return []
    domains = {i: d for _, scope in _scopes(obj) for i, d in (scope.get("domains") or {}).items()}
    for _, scope in _scopes(obj):
        resource = (scope.get(kind) or {}).get(res_id)
        if resource is None:
            continue
        lines = []
        for domain_id in resource.get("domains") or []:
            fqdn = (domains.get(domain_id) or {}).get("fqdn")
            if not fqdn:
                continue
            for path in resource.get("paths") or []:
                method = resource.get("method") or "GET"
                flag = "" if method == "GET" else f"-X {method} "
                lines.append(f'curl {flag}-H "Host: {fqdn}" http://127.0.0.1:{port}{path}')
        return lines
    return []


def _repository_resources(obj: dict[str, Any], root: Path, folder: Path) -> list[tuple[str, str, str]]:
    """(kind, id, name) of the websites and libraries built from the working copy `folder`."""
    from dream.projects import local_dir

    found = []
    for _, scope in _scopes(obj):
        for kind in REPOSITORY_DIRS.values():
            for res_id, resource in (scope.get(kind) or {}).items():
                fullname = str(resource.get("repository-name") or "")
                if fullname and local_dir(root, fullname) == folder:
                    found.append((kind, res_id, str(resource.get("name") or res_id)))
    return found


async def deploy_change(
    peers: PeerClient,
    *,
    universe: str,
    project_id: str,
    root: Path,
    changed: list[Path],
    branch: str,
) -> Outcome:
    """Redo what the `changed` files of the project at `root` belong to, and only that."""
    clients = Clients(peers)
    outcome = Outcome(project=project_id, branch=branch)
    # Where to try what is built: asked for now and awaited once needed, not one more round trip first.
    substrates = asyncio.ensure_future(peers.discover("substrate"))
    try:
        return await _redo(clients, outcome, root, changed, substrates, universe, project_id, branch)
    finally:
        substrates.cancel()
        if substrates.done() and not substrates.cancelled():
            substrates.exception()  # seen: a failed look-up only costs the URLs


async def _redo(
    clients: Clients,
    outcome: Outcome,
    root: Path,
    changed: list[Path],
    substrates: asyncio.Future[list[Any]],
    universe: str,
    project_id: str,
    branch: str,
) -> Outcome:
    from dream.monkey import pipeline
    from dream.tcc.errors import CompileError, ConfigError

    config_dir, code_dir = root / CONFIG_DIR, root / CODE_DIR
    config_changed = any(_under(path, config_dir) for path in changed)
    rest = [path for path in changed if not _under(path, config_dir)]
    if config_changed:
        started = time.monotonic()
        commit = f"working-copy-{time.time_ns()}"  # a commit of its own, as each push has
        try:
            await pipeline.publish_config(
                clients,
                config_dir,
                branch=branch,
                commit=commit,
                project_id=project_id,
                universe=universe,
                log=outcome.log.append,
            )
        except (CompileError, ConfigError) as exc:
            outcome.failed.append(
                {"kind": "config", "label": "config", "error": f"config does not compile:\n{exc}"}
            )
            return outcome  # the code is built against the config: not against one that does not compile
        outcome.built.append(
            {"kind": "config", "label": "config", "seconds": round(time.monotonic() - started, 4), "urls": []}
        )
    if not rest and not config_changed:
        return outcome
    obj = await pipeline.published_config(clients, project_id, branch, log=outcome.log.append, wait=0)
    targets: dict[str, tuple[str, pipeline.Target]] = {}  # label → (kind, target)
    code_targets = pipeline.inline_targets(obj, code_dir)
    if config_changed:
        # A function the config just added was never built: build it now (a push of its code would).
        for target in code_targets:
            if target.directory.is_dir() and await clients.tns.asset(project_id, target.id, branch) is None:
                targets[target.label] = (target.label.split("/", 1)[0], target)
    for path in rest:
        matched = False
        if _under(path, code_dir):
            for target in code_targets:
                if _under(path, target.directory):
                    targets[target.label] = (target.label.split("/", 1)[0], target)
                    matched = True
        else:
            for folder_name in REPOSITORY_DIRS:
                base = root / folder_name
                if _under(path, base) and path != base:
                    folder = base / path.relative_to(base).parts[0]
                    for kind, res_id, name in _repository_resources(obj, root, folder):
                        label = f"{kind}/{name}"
                        targets[label] = (kind, pipeline.Target(res_id, label, folder))
                        matched = True
        if not matched:
            outcome.ignored.append(str(path))
    for label, (kind, target) in targets.items():
        started = time.monotonic()
        try:
            # The baseline compiler: a Go module compiles in a fraction of a second instead of seconds.
            cid = await pipeline.build_and_publish(
                clients, target, project_id=project_id, branch=branch, log=outcome.log.append, baseline=True
            )
        except DreamError as exc:
            outcome.failed.append({"kind": kind, "label": label, "error": str(exc)})
            continue
        outcome.built.append(
            {
                "kind": kind,
                "label": label,
                "id": target.id,
                "cid": cid,
                "seconds": round(time.monotonic() - started, 4),
                "urls": _urls(obj, kind, target.id, await _http_port(substrates)),
            }
        )
    return outcome


async def _http_port(substrates: asyncio.Future[list[Any]]) -> int | None:
    """The HTTP port of the first substrate found (None when none serves HTTP or none was found)."""
    try:
        serving = [peer for peer in await substrates if "http" in peer.ports]
    except DreamError:
        return None
    return int(serving[0].ports["http"]) if serving else None


def project_root(path: str, remembered: dict[str, Any] | None) -> Path:
    """The working copies' root: the `path` asked for, else where `dream new project` put them."""
    chosen = path or (remembered or {}).get("path") or ""
    if not chosen:
        raise DreamError(
            "give the `path` of the project's working copies (the folder holding config/ and code/)"
        )
    root = Path(chosen)
    if not root.is_absolute():
        raise DreamError(f"the project path must be absolute, got {chosen}")
    if not (root / CONFIG_DIR).is_dir():
        raise DreamError(
            f"{root} holds no config/ folder: pass the project's root (holding config/ and code/)"
        )
    return root
