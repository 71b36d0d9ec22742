"""Creating and describing projects, what the web console and tau-cli do upstream.

A project is two repositories on the universe's git host (`tb_<name>` for config, `tb_code_<name>` for
code), registered with auth (deploy key, webhook secret) under a new project id, with working copies
written from a template and pushed. The repositories' webhooks to patrick are added after that first
push, so nothing builds until `dream inject push-all` (as in the tutorial) or the next `git push`.
"""

from __future__ import annotations

import asyncio
import configparser
import json
import re
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dream import gitrun
from dream.clients import Clients
from dream.clients.auth import Project, Repository
from dream.clients.patrick import webhook_url
from dream.errors import DreamError
from dream.http.hosts import localhost_twin
from dream.settings import NETWORK_SUFFIX, repo_root

if TYPE_CHECKING:  # the CLI imports this module; neither the node runtime nor YAML is needed to load it
    from dream.node.peers import PeerClient

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
FUNCTION = "ping_pong"
RESOURCES = "resources"  # a template's folder of config resources (`resources/databases/*.yaml`, ...)


def templates_dir() -> Path:
    return repo_root() / "fixtures" / "templates"


def templates() -> list[str]:
    """The project templates (`website` is the template of a website repository, not of a project)."""
    return sorted(p.name for p in templates_dir().iterdir() if p.is_dir() and p.name != "website")


def languages(template: str = "ping_pong") -> list[str]:
    folder = templates_dir() / template
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name != RESOURCES)


def generated_fqdn(project_id: str, universe: str, index: int = 0) -> str:
    """Upstream's form: the last 8 characters of the project id, lower-cased, then a domain counter."""
    return f"{project_id[-8:].lower()}{index}.{universe}.{NETWORK_SUFFIX}"


def local_dir(root: Path, fullname: str) -> Path:
    """Upstream's mapping of repository names to a project's local layout (what `dream new ...` writes and
    push-all `--path` reads)."""
    name = fullname.split("/", 1)[-1]
    if name.startswith("tb_code_"):
        return root / "code"
    if name.startswith("tb_website_"):
        return root / "websites" / name.removeprefix("tb_website_")
    if name.startswith("tb_library_"):
        return root / "libraries" / name.removeprefix("tb_library_")
    return root / "config"


GIT_TIMEOUT = 60


def _git(*args: str, cwd: Path) -> None:
    """`git <args>` (GitPython) on the user's working copy, as the user's own git runs, never prompting."""
    identity = ["-c", "user.name=dream", "-c", "user.email=dream@localhost", "-c", "init.defaultBranch=main"]
    result = gitrun.run([*identity, *args], cwd=cwd, env={"GIT_TERMINAL_PROMPT": "0"}, timeout=GIT_TIMEOUT)
    if result.status != 0:
        raise DreamError(f"git {args[0]} in {cwd} failed: {result.stderr.strip()}")


def _write_yaml(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False))


def render(root: Path, *, name: str, project_id: str, fqdn: str, template: str, lang: str) -> None:
    """Write the config and code working copies of a new project from a template."""
    from dream.tcc.ids import new_resource_id

    source = templates_dir() / template / lang
    if template not in templates():
        raise DreamError(f"no template `{template}`; templates: {', '.join(templates())}")
    if not source.is_dir():
        raise DreamError(f"no `{template}` template in `{lang}`; languages: {', '.join(languages(template))}")
    config, code = root / "config", root / "code"
    _write_yaml(
        config / "config.yaml",
        {
            "id": project_id,
            "name": name,
            "description": f"{name}, created by dream",
            "tags": [],
            "notification": {"email": "dev@localhost"},
        },
    )
    _write_yaml(
        config / "domains" / "GeneratedDomain.yaml",
        {
            "id": new_resource_id(),
            "description": "generated domain",
            "tags": [],
            "fqdn": fqdn,
            "cert-type": "auto",
        },
    )
    import yaml

    if (source / "functions").is_dir():
        # A template of several resources: config/<kind>/<name>.yaml and functions/<name>/ (each with
        # its function.yaml); every id is made new.
        for resource in sorted((source / "config").glob("*/*.yaml")):
            found = yaml.safe_load(resource.read_text())
            found["id"] = new_resource_id()
            _write_yaml(config / resource.parent.name / resource.name, found)
        folders = sorted(p for p in (source / "functions").iterdir() if p.is_dir())
    else:
        folders = [source]
    for folder in folders:
        # ping_pong's function keeps its name; another template's single function is named after the
        # template; a function of a several-function template after its folder.
        single = FUNCTION if template == "ping_pong" else template
        name = folder.name if folder != source else single
        function = yaml.safe_load((folder / "function.yaml").read_text())
        function["id"] = new_resource_id()
        _write_yaml(config / "functions" / f"{name}.yaml", function)
        shutil.copytree(folder, code / "functions" / name, ignore=shutil.ignore_patterns("function.yaml"))
    # Resources a template's functions use (e.g. kv_counter's database), each with a new id.
    for found in sorted((templates_dir() / template / RESOURCES).glob("*/*.yaml")):
        resource = yaml.safe_load(found.read_text())
        resource["id"] = new_resource_id()
        _write_yaml(config / found.parent.name / found.name, resource)


def _remember(state_dir: Path, name: str, record: dict[str, Any]) -> None:
    """Where a project's working copies are, so later commands (`dream new website`) can add to them."""
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / f"{name}.json").write_text(json.dumps(record))


def remembered(state_dir: Path, name: str) -> dict[str, Any]:
    try:
        return dict(json.loads((state_dir / f"{name}.json").read_text()))
    except (OSError, ValueError):
        raise DreamError(
            f"no project `{name}` was created in this universe with `dream new project`"
        ) from None


async def _repository(peers: PeerClient, *, owner: str, name: str, project_id: str = "") -> dict[str, Any]:
    """A repository on the git host, registered with auth (deploy key, webhook secret)."""
    clients = Clients(peers)
    repo = await clients.git.create_repository(owner, name)
    registered = await clients.auth.register_repository(
        str(repo["id"]), repo["full_name"], url=repo["clone_url"], project=project_id
    )
    return {**repo, "hook": registered["hook"]}


async def _publish(work: Path, clone_url: str, message: str) -> None:
    """Commit a new working copy and push it to its (empty) repository."""
    await asyncio.to_thread(_git, "init", "--quiet", cwd=work)
    await asyncio.to_thread(_git, "add", "--all", cwd=work)
    await asyncio.to_thread(_git, "commit", "--quiet", "-m", message, cwd=work)
    await asyncio.to_thread(_git, "remote", "add", "origin", clone_url, cwd=work)
    await asyncio.to_thread(_git, "push", "--quiet", "-u", "origin", "main", cwd=work)


async def _hook(peers: PeerClient, repos: list[dict[str, Any]]) -> bool:
    """Point the repositories' webhooks at patrick (False when the universe has no patrick)."""
    patricks = [p for p in await peers.discover("patrick", fresh=True) if "http" in p.ports]
    if not patricks:
        return False
    url = f"http://127.0.0.1:{patricks[0].ports['http']}"
    git = Clients(peers).git
    for repo in repos:
        await git.add_hook(repo["id"], webhook_url(url, repo["hook"]["id"]), repo["hook"]["secret"])
    return True


async def create(
    peers: PeerClient,
    *,
    universe: str,
    name: str,
    path: Path,
    template: str,
    lang: str,
    owner: str,
    state_dir: Path,
) -> dict[str, Any]:
    from dream.tcc.ids import new_project_id

    if not NAME.match(name):
        raise DreamError(
            f"`{name}` is not a valid project name: lower-case letters, digits, - and _, starting with a letter"
        )
    if not path.is_absolute():
        raise DreamError(f"the project path must be absolute, got {path}")
    if path.exists() and any(path.iterdir()):
        raise DreamError(f"{path} already exists and is not empty: choose another --path")
    projects = await Clients(peers).auth.projects()
    if any(p["name"] == name for p in projects):
        raise DreamError(f"a project named `{name}` already exists in universe `{universe}`")
    project_id = new_project_id()
    fqdn = generated_fqdn(project_id, universe)
    await asyncio.to_thread(
        render, path, name=name, project_id=project_id, fqdn=fqdn, template=template, lang=lang
    )
    repos: dict[str, dict[str, Any]] = {}
    for role, repo_name in (("config", f"tb_{name}"), ("code", f"tb_code_{name}")):
        repos[role] = await _repository(peers, owner=owner, name=repo_name)
        await _publish(
            path / role, repos[role]["clone_url"], f"{name}: {role} from the {template} template ({lang})"
        )
    await Clients(peers).auth.create_project(
        project_id, name, config=str(repos["config"]["id"]), code=str(repos["code"]["id"])
    )
    hooked = await _hook(peers, list(repos.values()))
    _remember(state_dir, name, {"id": project_id, "path": str(path), "owner": owner})
    return {
        "id": project_id,
        "name": name,
        "fqdn": fqdn,
        "path": str(path),
        "template": template,
        "lang": lang,
        "webhooks": hooked,
        "repositories": {
            role: {k: repo[k] for k in ("id", "full_name", "clone_url")} for role, repo in repos.items()
        },
    }


async def _attach(
    peers: PeerClient,
    *,
    state_dir: Path,
    project: str,
    kind: str,
    name: str,
    template: Path,
    entries: Callable[[dict[str, Any]], dict[str, dict[str, Any]]],
) -> tuple[Path, dict[str, Any]]:
    """A `tb_<kind>_<name>` repository for a project, made from `template` (working copy where push-all
    `--path` looks for it: `local_dir`), pushed and hooked, and the config files `entries(repo)` gives
    (path in the config repository → YAML) committed and pushed to the project's config."""
    if not NAME.match(name):
        raise DreamError(f"`{name}` is not a valid {kind} name: lower-case letters, digits, - and _")
    record = remembered(state_dir, project)
    root = Path(record["path"])
    repo_name = f"tb_{kind}_{name}"
    work = local_dir(root, repo_name)
    if work.exists():
        raise DreamError(f"{work} already exists: project {project} has a {kind} named {name}")
    await asyncio.to_thread(shutil.copytree, template, work, ignore=shutil.ignore_patterns("function.yaml"))
    repo = await _repository(peers, owner=record["owner"], name=repo_name, project_id=record["id"])
    await _publish(work, repo["clone_url"], f"{name}: a {kind} from the {template.name} template")
    config = root / "config"
    for path, data in entries(repo).items():
        _write_yaml(config / path, data)
    await asyncio.to_thread(_git, "add", "--all", cwd=config)
    await asyncio.to_thread(_git, "commit", "--quiet", "-m", f"add the {name} {kind}", cwd=config)
    await asyncio.to_thread(_git, "push", "--quiet", "origin", "main", cwd=config)
    await _hook(peers, [repo])
    return work, repo


def _github(repo: dict[str, Any]) -> dict[str, str]:
    return {"id": str(repo["id"]), "fullname": repo["full_name"]}


def _repo_summary(repo: dict[str, Any]) -> dict[str, Any]:
    return {k: repo[k] for k in ("id", "full_name", "clone_url")}


async def add_website(peers: PeerClient, *, project: str, site: str, state_dir: Path) -> dict[str, Any]:
    """A website repository (`tb_website_<site>`) for a project, served under `/<site>` on its generated domain."""
    from dream.tcc.ids import new_resource_id

    website_id = new_resource_id()

    def entries(repo: dict[str, Any]) -> dict[str, dict[str, Any]]:
        website = {
            "id": website_id,
            "description": f"the {site} website",
            "tags": [],
            "domains": ["GeneratedDomain"],
            "source": {"paths": [f"/{site}"], "branch": "main", "github": _github(repo)},
        }
        return {f"websites/{site}.yaml": website}

    work, repo = await _attach(
        peers,
        state_dir=state_dir,
        project=project,
        kind="website",
        name=site,
        template=templates_dir() / "website",
        entries=entries,
    )
    return {"website": site, "id": website_id, "path": str(work), "repository": _repo_summary(repo)}


async def add_library(
    peers: PeerClient, *, project: str, library: str, lang: str, state_dir: Path
) -> dict[str, Any]:
    """A library repository (`tb_library_<library>`) for a project, from the ping_pong template in `lang`,
    and a function whose code is that library (`source: libraries/<library>`), answering
    `GET /<library>/ping` on the project's generated domain."""
    from dream.tcc.ids import new_resource_id

    template = templates_dir() / "ping_pong" / lang
    if not template.is_dir():
        raise DreamError(f"no library template in `{lang}`; languages: {', '.join(languages())}")
    function_name = f"{library}_ping"
    library_id, function_id = new_resource_id(), new_resource_id()

    def entries(repo: dict[str, Any]) -> dict[str, dict[str, Any]]:
        entry = {
            "id": library_id,
            "description": f"the {library} library",
            "tags": [],
            "source": {"path": "/", "branch": "main", "github": _github(repo)},
        }
        import yaml

        function = yaml.safe_load((template / "function.yaml").read_text())
        function.update(
            id=function_id,
            description=f"{function.get('description', 'ping')}, from the {library} library",
            source=f"libraries/{library}",
        )
        function["trigger"]["paths"] = [f"/{library}/ping"]
        return {f"libraries/{library}.yaml": entry, f"functions/{function_name}.yaml": function}

    work, repo = await _attach(
        peers,
        state_dir=state_dir,
        project=project,
        kind="library",
        name=library,
        template=template,
        entries=entries,
    )
    return {
        "library": library,
        "id": library_id,
        "function": {"name": function_name, "id": function_id, "path": f"/{library}/ping"},
        "path": str(work),
        "repository": _repo_summary(repo),
    }


async def _clone_url(peers: PeerClient, repo: Repository) -> str:
    """The repository's clone URL as the git host gives it now (it names the git host's current port)."""
    try:
        return str((await Clients(peers).git.repository(repo["id"]))["clone_url"])
    except (DreamError, KeyError):
        return str(repo.get("url") or "")


def _origin(work: Path) -> str | None:
    """The `origin` URL of a working copy, None when it is not one (moved, deleted, no remote)."""
    if not (work / ".git").exists():
        return None
    git = gitrun.gitpython()
    try:
        with git.Repo(work) as repo:
            return str(repo.remote("origin").url)
    except (git.GitError, ValueError, OSError, configparser.Error):  # not a repository; no origin or no URL
        return None


async def stale_remotes(peers: PeerClient, project: Project, state_dir: Path) -> list[dict[str, Any]]:
    """The project's working copies (as `dream new` wrote them) whose `origin` is not their repository's
    clone URL any more (a kept universe whose git host came back on another port), each with the command
    that fixes it."""
    try:
        root = Path(remembered(state_dir, project["name"])["path"])
    except DreamError:
        return []  # not created with `dream new project`: its working copies are not known
    stale = []
    for repo in await Clients(peers).auth.repositories():
        if repo.get("project") != project["id"]:
            continue
        work = local_dir(root, repo["fullname"])
        remote = await asyncio.to_thread(_origin, work)
        url = await _clone_url(peers, repo)
        # Only a remote naming this repository on a git host: one the user pointed elsewhere is theirs.
        if remote and url and remote != url and remote.endswith(f"/{repo['fullname']}.git"):
            stale.append(
                {
                    "repository": repo["fullname"],
                    "path": str(work),
                    "remote": remote,
                    "clone_url": url,
                    "fix": f"git -C {shlex.quote(str(work))} remote set-url origin {shlex.quote(url)}",
                }
            )
    return stale


async def describe(
    peers: PeerClient, project: Project, *, branch: str, state_dir: Path | None = None
) -> dict[str, Any]:
    """A project with its repositories and, once its config is published, its functions and their URLs;
    with `state_dir`, also its working copies whose remote is stale (`stale_remotes`)."""
    from dream.monkey import pipeline

    repos = {}
    for role in ("config", "code"):
        repo = await Clients(peers).auth.repository(project[role])
        repos[role] = {
            "id": repo["id"],
            "full_name": repo["fullname"],
            "clone_url": await _clone_url(peers, repo),
        }
    functions: list[dict[str, Any]] = []
    try:
        obj = await pipeline.published_config(
            Clients(peers), project["id"], branch, log=lambda line: None, wait=0
        )
    except DreamError:
        obj = {}
    substrates = [p for p in await peers.discover("substrate") if "http" in p.ports]
    port = substrates[0].ports["http"] if substrates else None
    # A browser's URL goes through the gateway when there is one (its ports are the stable ones).
    fronts = [p for p in await peers.discover("gateway") if "http" in p.ports] or substrates
    front_ports = fronts[0].ports if fronts else {}
    scopes = [obj, *(obj.get("applications") or {}).values()]
    domains = {i: d for scope in scopes for i, d in (scope.get("domains") or {}).items()}
    for scope in scopes:
        for fid, function in (scope.get("functions") or {}).items():
            fqdns = [domains[d]["fqdn"] for d in function.get("domains", []) if d in domains]
            for fqdn in fqdns:
                for path in function.get("paths") or []:
                    entry = {
                        "name": function["name"],
                        "id": fid,
                        "method": function.get("method", ""),
                        "fqdn": fqdn,
                        "path": path,
                    }
                    if "http" in front_ports:
                        entry["url"] = f"http://{localhost_twin(fqdn)}:{front_ports['http']}{path}"
                    if "https" in front_ports:
                        entry["https_url"] = f"https://{localhost_twin(fqdn)}:{front_ports['https']}{path}"
                    if port:
                        method = "" if entry["method"] in ("", "GET") else f"-X {entry['method']} "
                        entry["curl"] = f'curl {method}-H "Host: {fqdn}" http://127.0.0.1:{port}{path}'
                    functions.append(entry)
    websites: list[dict[str, Any]] = []
    for scope in scopes:
        for wid, site in (scope.get("websites") or {}).items():
            for fqdn in [domains[d]["fqdn"] for d in site.get("domains", []) if d in domains]:
                for path in site.get("paths") or ["/"]:
                    entry = {"name": site.get("name", wid), "id": wid, "fqdn": fqdn, "path": path}
                    if port:
                        entry["curl"] = f'curl -H "Host: {fqdn}" http://127.0.0.1:{port}{path}'
                    websites.append(entry)
    remotes = await stale_remotes(peers, project, state_dir) if state_dir is not None else []
    return {
        **project,
        "repositories": repos,
        "published": bool(obj),
        "functions": functions,
        "websites": websites,
        "stale_remotes": remotes,
    }
