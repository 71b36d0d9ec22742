"""Compile a config repo into the project object and the TNS indexes that monkey publishes.

`compile_project` reads every YAML file, checks everything a user can get wrong (collecting all
problems into one `CompileError`), resolves names to ids and builds:
- `object`: project fields plus one map per resource kind keyed by resource id (applications nest
  the same maps under `applications/<appId>`);
- `indexes`: TNS key → value for HTTP routing, domains, wasm modules and repositories.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dream.tcc import tns_keys
from dream.tcc.errors import CompileError, ConfigError
from dream.tcc.ids import is_valid_id, new_project_id
from dream.tcc.loader import RESOURCE_KINDS, LineDict, ProjectTree, Scope, load_project
from dream.tcc.schema import COMPILERS, Fields, resource_id

# Kinds built into wasm modules (or website bundles) that get a module index.
MODULE_KINDS = ("functions", "smartops", "libraries", "websites")
REPO_TYPES = {"websites": tns_keys.REPO_TYPE_WEBSITE, "libraries": tns_keys.REPO_TYPE_LIBRARY}
_PROJECT_FIELDS = ("name", "description")


@dataclass
class CompiledResource:
    """One compiled resource with where it came from (`app_name` is its folder under applications/)."""

    kind: str
    id: str
    name: str
    file: str
    config: dict[str, Any]
    app_id: str | None = None
    app_name: str | None = None


@dataclass
class DomainCheck:
    """A domain and whether it matches the cloud's generated-domain pattern (None: no pattern given)."""

    fqdn: str
    domain_id: str
    file: str
    generated: bool | None


@dataclass
class CompiledProject:
    project_id: str
    branch: str
    commit: str
    object: dict[str, Any]
    indexes: dict[str, Any]
    resources: list[CompiledResource] = field(default_factory=list)
    domain_checks: list[DomainCheck] = field(default_factory=list)

    def index_path(self, resource: CompiledResource) -> str:
        return tns_keys.index_key(self.branch, self.project_id, resource.kind, resource.id, resource.app_id)

    def resource_key(self, resource: CompiledResource) -> str:
        return tns_keys.resource_key(
            self.branch, self.commit, self.project_id, resource.kind, resource.id, resource.app_id
        )

    def inline_builds(self) -> list[CompiledResource]:
        """Functions and smartops whose code is in the code repo (`source: .`): what a code job builds."""
        return [
            r for r in self.resources if r.kind in ("functions", "smartops") and r.config.get("source") == "."
        ]

    def by_repository(self, repo_id: str | int) -> list[CompiledResource]:
        """Websites and libraries built from the GitHub repository `repo_id`."""
        return [
            r
            for r in self.resources
            if r.kind in REPO_TYPES and str(r.config.get("repository-id")) == str(repo_id)
        ]


def _plain(value: Any) -> Any:
    """Plain dicts and lists (the line-tracking YAML types must not leak into TNS)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class _Names:
    """name → id per kind of one scope, with the project scope as fallback for applications."""

    def __init__(self, scope: Scope, parent: _Names | None) -> None:
        self.parent = parent
        self.by_kind: dict[str, dict[str, str | None]] = {}
        for kind, files in scope.resources.items():
            names: dict[str, str | None] = {}
            for resource in files:
                raw = resource.data.get("id")
                names[resource.name] = str(raw) if is_valid_id(raw) else None
            self.by_kind[kind] = names

    def lookup(self, kind: str, name: str) -> tuple[bool, str | None]:
        names = self.by_kind.get(kind, {})
        if name in names:
            return True, names[name]
        return self.parent.lookup(kind, name) if self.parent else (False, None)

    def known(self, kind: str) -> list[str]:
        inherited = self.parent.known(kind) if self.parent else []
        return sorted(set(self.by_kind.get(kind, {})) | set(inherited))

    def _resolver(self, kind: str, singular: str) -> Callable[[str, Fields, str, int | None], str | None]:
        def resolve(name: str, fields: Fields, key: str, line: int | None) -> str | None:
            found, res_id = self.lookup(kind, name)
            if not found:
                known = self.known(kind)
                listed = f"known {kind}: {', '.join(known)}" if known else f"no {kind} are defined"
                fields.error(
                    key,
                    f'unknown {singular} "{name}" ({listed}); add {kind}/{name}.yaml or fix the name',
                    line,
                )
            return res_id  # None when unknown or when its own id is broken (reported there)

        return resolve

    @property
    def domain(self) -> Callable[[str, Fields, str, int | None], str | None]:
        return self._resolver("domains", "domain")

    @property
    def library(self) -> Callable[[str, Fields, str, int | None], str | None]:
        return self._resolver("libraries", "library")

    @property
    def smartop(self) -> Callable[[str, Fields, str, int | None], str | None]:
        return self._resolver("smartops", "smartop")


class _Compiler:
    def __init__(self, tree: ProjectTree, branch: str, commit: str, project_id: str | None) -> None:
        self.tree = tree
        self.branch = branch
        self.commit = commit
        self.expected_project = project_id
        self.errors: list[ConfigError] = list(tree.errors)
        # Ids are unique where they are keys: the project's and applications' own ids among themselves,
        # and a resource's among its kind in its scope (the project root or one application). The same
        # resource id in the project scope and inside an application is fine, as upstream's compiler
        # accepts (each is published under its own scope).
        self.ids: dict[tuple[str | None, str, str], str] = {}  # (app, kind, id) → file that declared it first
        self.resources: list[CompiledResource] = []
        self.project_id = project_id or ""

    # -- ids ------------------------------------------------------------------------------------
    def _claim(self, res_id: str, fields: Fields, *, app: str | None = None, kind: str = "scopes") -> None:
        first = self.ids.setdefault((app, kind, res_id), fields.file)
        if first != fields.file:
            what = "resource" if kind != "scopes" else "application"
            fields.error("id", f'"{res_id}" is already used by {first}; every {what} needs its own id')

    def _project(self) -> dict[str, Any]:
        scope = self.tree.project
        if scope.data is None:
            return {}
        fields = Fields(scope.data, scope.file, self.errors)
        raw = scope.data.get("id")
        if raw is None or raw == "":
            fields.error(
                "id", f"the project has no id; add the project's id, for example `id: {new_project_id()}`"
            )
        elif not is_valid_id(raw):
            fields.error("id", f'"{raw}" is not a valid project id (example: id: {new_project_id()})')
        else:
            config_id = str(raw)
            if self.expected_project and config_id != self.expected_project:
                fields.error(
                    "id",
                    f"project id {config_id} does not match the project this repo belongs to "
                    f"({self.expected_project}); set `id: {self.expected_project}` in config.yaml",
                )
            else:
                self.project_id = config_id
                self.ids[(None, "scopes", config_id)] = scope.file
        obj: dict[str, Any] = {"id": self.project_id}
        for name in _PROJECT_FIELDS:
            obj[name] = fields.text(name)
        if "notification" in scope.data:
            obj["notification"] = _plain(fields.mapping("notification"))
        if "clouds" in scope.data:
            obj["clouds"] = _plain(fields.mapping("clouds"))
        return obj

    def _scope(self, scope: Scope, names: _Names, app_id: str | None) -> dict[str, Any]:
        maps: dict[str, Any] = {}
        for kind in RESOURCE_KINDS:
            compiled: dict[str, Any] = {}
            for resource in scope.resources.get(kind, []):
                fields = Fields(resource.data, resource.file, self.errors)
                sibling = next(
                    (r for r in scope.resources[kind] if r.name == resource.name and r is not resource), None
                )
                if sibling is not None and sibling.file < resource.file:
                    fields.error(None, f"{sibling.file} has the same name; keep one of the two files")
                    continue
                res_id = resource_id(fields)
                config = COMPILERS[kind](resource.name, fields, names)
                if res_id is None:
                    continue
                self._claim(res_id, fields, app=scope.app, kind=kind)
                compiled[res_id] = _plain(config)
                self.resources.append(
                    CompiledResource(
                        kind, res_id, resource.name, resource.file, compiled[res_id], app_id, scope.app
                    )
                )
            if compiled:
                maps[kind] = compiled
        return maps

    def _application(self, scope: Scope, parent: _Names) -> tuple[str, dict[str, Any]] | None:
        data = scope.data if scope.data is not None else LineDict()
        fields = Fields(data, scope.file, self.errors)
        app_id: str | None = None
        if scope.data is not None:
            raw = data.get("id")
            if raw is None or raw == "":
                fields.error(
                    "id", f"the application has no id; add a unique one, for example `id: {new_project_id()}`"
                )
            elif not is_valid_id(raw):
                fields.error("id", f'"{raw}" is not a valid id (example: id: {new_project_id()})')
            else:
                app_id = str(raw)
                self._claim(app_id, fields)
        app: dict[str, Any] = {"name": scope.app, "description": fields.text("description")}
        app.update(self._scope(scope, _Names(scope, parent), app_id or "invalid-application-id"))
        return (app_id, app) if app_id else None

    # -- cross-resource checks -------------------------------------------------------------------
    def _route_conflicts(self) -> None:
        fqdns = {r.id: r.config.get("fqdn", "") for r in self.resources if r.kind == "domains"}
        seen: dict[tuple[str, str, str], str] = {}
        for res in self.resources:
            if res.kind != "functions" or res.config.get("type") != "http":
                continue
            fields = Fields(self._data_of(res), res.file, self.errors)
            for domain_id in res.config.get("domains", []):
                for index, path in enumerate(res.config.get("paths", [])):
                    route = (res.config.get("method", ""), fqdns.get(domain_id, domain_id), path)
                    first = seen.setdefault(route, res.file)
                    if first != res.file:
                        fields.error(
                            "trigger.paths",
                            f"{route[0]} {route[1]}{route[2]} is already served by {first}; "
                            "change the method, domain or path of one of the two functions",
                            fields.item_line("trigger.paths", index),
                        )

    def _data_of(self, res: CompiledResource) -> LineDict:
        scopes = [self.tree.project, *self.tree.applications]
        for scope in scopes:
            for resource in scope.resources.get(res.kind, []):
                if resource.file == res.file:
                    return resource.data
        return LineDict()

    # -- indexes --------------------------------------------------------------------------------
    def _indexes(self) -> dict[str, Any]:
        pid = self.project_id
        indexes: dict[str, Any] = {}

        def link(key: str, path: str) -> None:
            links = indexes.setdefault(key, [])
            if path not in links:
                links.append(path)

        fqdns = {
            r.id: r.config["fqdn"] for r in self.resources if r.kind == "domains" and r.config.get("fqdn")
        }
        for res in self.resources:
            path = tns_keys.index_key(self.branch, pid, res.kind, res.id, res.app_id)
            if res.kind == "domains" and res.id in fqdns:
                indexes[tns_keys.domain_links_key(fqdns[res.id])] = None
            if res.kind in tns_keys.HTTP_KINDS and (
                res.kind == "websites" or res.config.get("type") == "http"
            ):
                for domain_id in res.config.get("domains", []):
                    if domain_id in fqdns:
                        link(tns_keys.http_links_key(res.kind, fqdns[domain_id]), path)
            if res.kind in MODULE_KINDS:
                link(tns_keys.wasm_module_links_key(pid, res.kind, res.name, res.app_id), path)
            repo_id = str(res.config.get("repository-id", ""))
            if res.kind in REPO_TYPES and repo_id.isdigit():
                indexes[tns_keys.repo_type_key(repo_id, pid)] = REPO_TYPES[res.kind]
                indexes[tns_keys.repo_resource_key(repo_id, pid, res.id)] = path
        return indexes

    def run(self, generated_domain_re: str | None) -> CompiledProject:
        obj = self._project()
        project_names = _Names(self.tree.project, None)
        obj.update(self._scope(self.tree.project, project_names, None))
        applications: dict[str, Any] = {}
        for scope in self.tree.applications:
            compiled = self._application(scope, project_names)
            if compiled is not None:
                applications[compiled[0]] = compiled[1]
        if applications:
            obj["applications"] = applications
        self._route_conflicts()
        checks = self._domain_checks(generated_domain_re)
        if self.errors:
            # Grouped by file, top to bottom, so the list reads like a linter's.
            raise CompileError(sorted(self.errors, key=lambda e: (e.file or "", e.line or 0)))
        return CompiledProject(
            project_id=self.project_id,
            branch=self.branch,
            commit=self.commit,
            object=obj,
            indexes=self._indexes(),
            resources=self.resources,
            domain_checks=checks,
        )

    def _domain_checks(self, pattern: str | None) -> list[DomainCheck]:
        regex: re.Pattern[str] | None = None
        if pattern:
            try:
                regex = re.compile(pattern)
            except re.error as error:
                raise ConfigError(
                    f"generated-domain pattern {pattern!r} is not a valid regular expression ({error})"
                ) from None
        # Dev mode: a domain outside the generated pattern is a custom domain, not an error.
        return [
            DomainCheck(
                r.config["fqdn"], r.id, r.file, bool(regex.match(r.config["fqdn"])) if regex else None
            )
            for r in self.resources
            if r.kind == "domains" and r.config.get("fqdn")
        ]


def compile_project(
    config_dir: Path,
    *,
    branch: str,
    commit: str,
    project_id: str | None = None,
    generated_domain_re: str | None = None,
) -> CompiledProject:
    """Compile the config repo at `config_dir`; raises `CompileError` listing every problem found."""
    if not branch or "/" in branch:
        # Branches are one TNS path segment (`branches/<b>/...`), as upstream lays keys out.
        raise ConfigError(
            f"branch {branch!r} cannot be published: it must be non-empty and contain no '/' (example: main)"
        )
    if not commit or "/" in commit:
        raise ConfigError(
            f"commit {commit!r} is not a commit id (example: the 40 hex digits of `git rev-parse HEAD`)"
        )
    tree = load_project(Path(config_dir))
    return _Compiler(tree, branch, commit, project_id).run(generated_domain_re)
