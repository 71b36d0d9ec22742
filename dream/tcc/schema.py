"""The YAML schema of each resource kind, and how one file becomes its compiled object.

Each `compile_<kind>` reads one resource file through `Fields` (typed getters that record a located
`ConfigError` instead of raising, so every problem is reported) and returns the resource's object as
it is pushed to TNS. References by name (domains, libraries, smartops) go through a `Resolver` that
the compiler provides per scope.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from dream.tcc import units
from dream.tcc.errors import ConfigError
from dream.tcc.ids import is_valid_id, new_resource_id
from dream.tcc.loader import LineDict, LineList

TRIGGER_TYPES = ("http", "https", "pubsub", "p2p")
HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE")
CERT_TYPES = ("auto", "inline")
NETWORK_ACCESS = ("all", "subnet", "host")
LIBRARY_SOURCE_PREFIX = "libraries/"
INLINE_SOURCE = "."
SMARTOPS_TAG_PREFIX = "smartops:"
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")

_MISSING = object()


class Resolver(Protocol):
    """Turns names used in a YAML file into ids; returns None (and reports) when unknown."""

    def domain(self, name: str, fields: Fields, key: str, line: int | None) -> str | None: ...
    def library(self, name: str, fields: Fields, key: str, line: int | None) -> str | None: ...
    def smartop(self, name: str, fields: Fields, key: str, line: int | None) -> str | None: ...


class Fields:
    """Typed, located access to one YAML mapping; problems are appended to `errors`."""

    def __init__(self, data: LineDict, file: str, errors: list[ConfigError]) -> None:
        self.data = data
        self.file = file
        self.errors = errors

    # -- locating -----------------------------------------------------------------------------
    def line_of(self, key: str) -> int | None:
        """Line of a dotted key, or of its deepest present parent (where to add the missing key)."""
        node: Any = self.data
        line = getattr(self.data, "line", None)
        for part in key.split("."):
            if not isinstance(node, LineDict) or part not in node:
                break
            line = node.key_lines.get(part, line)
            node = node[part]
        return line

    def item_line(self, key: str, index: int) -> int | None:
        value = self.raw(key)
        if isinstance(value, LineList) and index < len(value.item_lines):
            return value.item_lines[index]
        return self.line_of(key)

    def error(self, key: str | None, message: str, line: int | None = None) -> None:
        where = line if line is not None else (self.line_of(key) if key else getattr(self.data, "line", None))
        self.errors.append(ConfigError(message, file=self.file, line=where, key=key))

    # -- raw access -----------------------------------------------------------------------------
    def raw(self, key: str, default: Any = None) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def has(self, key: str) -> bool:
        return self.raw(key, _MISSING) is not _MISSING

    def pick(self, *keys: str) -> str:
        """The first of several alias keys present in the file (else the first, for messages)."""
        for key in keys:
            if self.has(key):
                return key
        return keys[0]

    def mapping(self, key: str) -> LineDict:
        value = self.raw(key)
        if value is None:
            return LineDict()
        if not isinstance(value, dict):
            self.error(
                key, f"must be a mapping of keys (`{key.split('.')[-1]}:` then indented `key: value` lines)"
            )
            return LineDict()
        return value if isinstance(value, LineDict) else LineDict(value)

    # -- typed getters ----------------------------------------------------------------------
    def text(self, key: str, *, required: bool = False, default: str = "", example: str | None = None) -> str:
        value = self.raw(key)
        if value is None or value == "":
            if required:
                hint = f" (example: {key.split('.')[-1]}: {example})" if example else ""
                self.error(key, f"is missing; it is required{hint}")
            return default
        if isinstance(value, dict | list):
            self.error(
                key, f"must be a single value, not a {'mapping' if isinstance(value, dict) else 'list'}"
            )
            return default
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        self.error(key, f"{value!r} is not true or false")
        return default

    def text_list(self, key: str) -> list[str]:
        value = self.raw(key)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]  # a lone value where a list was meant is unambiguous
        if not isinstance(value, list):
            self.error(key, "must be a list (one `- item` per line)")
            return []
        out: list[str] = []
        for index, item in enumerate(value):
            if isinstance(item, dict | list) or item is None:
                self.error(key, f"item {index + 1} must be a single value", self.item_line(key, index))
                continue
            out.append(str(item))
        return out

    def duration(self, key: str, *, required: bool = True) -> int | None:
        value = self.raw(key)
        if value is None or value == "":
            if required:
                self.error(key, f"is missing (example: {key.split('.')[-1]}: 10s)")
            return None
        try:
            return units.parse_duration(value)
        except ConfigError as error:
            self.errors.append(error.at(file=self.file, line=self.line_of(key), key=key))
            return None

    def size(self, key: str, *, required: bool = True) -> int | None:
        value = self.raw(key)
        if value is None or value == "":
            if required:
                self.error(key, f"is missing (example: {key.split('.')[-1]}: 10MB)")
            return None
        try:
            return units.parse_size(value)
        except ConfigError as error:
            self.errors.append(error.at(file=self.file, line=self.line_of(key), key=key))
            return None

    def choice(self, key: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.text(key).strip().lower()
        if not value:
            return default
        if value not in allowed:
            self.error(key, f'"{value}" is not supported; use one of: {", ".join(allowed)}')
            return default
        return value


# -- helpers shared by kinds -------------------------------------------------------------------


def resource_id(fields: Fields) -> str | None:
    """The required `id`; a missing one gets an error that offers a fresh id to paste."""
    value = fields.raw("id")
    if value is None or value == "":
        fields.error("id", f"the resource has no id; add a unique one, for example `id: {new_resource_id()}`")
        return None
    if not is_valid_id(value):
        fields.error("id", f'"{value}" is not a valid id; use a CID such as `id: {new_resource_id()}`')
        return None
    return str(value)


def _common(name: str, fields: Fields) -> dict[str, Any]:
    return {"name": name, "description": fields.text("description"), "tags": fields.text_list("tags")}


def _resolve_names(fields: Fields, key: str, lookup: Any) -> list[str]:
    ids: list[str] = []
    for index, name in enumerate(fields.text_list(key)):
        found = lookup(name, fields, key, fields.item_line(key, index))
        if found is not None and found not in ids:
            ids.append(found)
    return ids


def _source(fields: Fields, resolver: Resolver, *, default: str = INLINE_SOURCE) -> str:
    source = fields.text("source", default=default).strip()
    if source in (INLINE_SOURCE, "./", ""):
        return INLINE_SOURCE
    if source.startswith(LIBRARY_SOURCE_PREFIX) and source[len(LIBRARY_SOURCE_PREFIX) :].strip("/"):
        name = source[len(LIBRARY_SOURCE_PREFIX) :].strip("/")
        library_id = resolver.library(name, fields, "source", fields.line_of("source"))
        return f"{LIBRARY_SOURCE_PREFIX}{library_id or name}"
    fields.error(
        "source",
        f'"{source}" is not a source; use `source: .` (code in the code repo) or `source: libraries/<library name>`',
    )
    return source


def _execution(fields: Fields, obj: dict[str, Any]) -> None:
    obj["timeout"] = fields.duration("execution.timeout")
    obj["memory"] = fields.size("execution.memory")
    call = fields.text("execution.call").strip()
    if not call:
        where = (
            "a library" if obj["source"].startswith(LIBRARY_SOURCE_PREFIX) else "inline code (`source: .`)"
        )
        fields.error(
            "execution.call",
            f"is missing; a function built from {where} needs the exported wasm function to call (example: call: ping)",
        )
    obj["call"] = call


def _smartops(fields: Fields, resolver: Resolver, obj: dict[str, Any]) -> None:
    ids: list[str] = []
    for index, tag in enumerate(obj["tags"]):
        if tag.startswith(SMARTOPS_TAG_PREFIX):
            found = resolver.smartop(
                tag[len(SMARTOPS_TAG_PREFIX) :], fields, "tags", fields.item_line("tags", index)
            )
            if found is not None:
                ids.append(found)
    if ids:
        obj["smartops"] = ids


def _repository(fields: Fields, obj: dict[str, Any], kind: str) -> None:
    """`source.github.{id,fullname}` and `source.branch`, shared by websites and libraries."""
    repo_id = fields.text("source.github.id").strip()
    if not repo_id:
        fields.error(
            "source.github.id",
            f'is missing; a {kind} is built from its own GitHub repository (example: id: "123456789")',
        )
    elif not repo_id.isdigit():
        fields.error(
            "source.github.id", f'"{repo_id}" is not a GitHub repository id (a number, e.g. "123456789")'
        )
    obj["branch"] = fields.text("source.branch", default="main")
    obj["provider"] = "github"
    obj["repository-id"] = repo_id
    obj["repository-name"] = fields.text("source.github.fullname")


# -- one function per kind ------------------------------------------------------------------------


def compile_function(name: str, fields: Fields, resolver: Resolver) -> dict[str, Any]:
    obj = _common(name, fields)
    fields.mapping("trigger")
    fields.mapping("execution")
    raw_type = fields.text("trigger.type", required=True, example="https").strip().lower()
    kind = "pubsub" if raw_type == "pub-sub" else raw_type
    if raw_type and kind not in TRIGGER_TYPES:
        fields.error(
            "trigger.type", f'"{raw_type}" is not a supported trigger; use one of: {", ".join(TRIGGER_TYPES)}'
        )
    obj["type"] = "http" if kind == "https" else kind
    obj["source"] = _source(fields, resolver)
    _execution(fields, obj)
    if kind in ("http", "https"):
        obj["secure"] = kind == "https"
        method = fields.text("trigger.method").strip().upper()
        if not method:
            fields.error(
                "trigger.method", "is missing; an http function needs an HTTP method (example: method: GET)"
            )
        elif method not in HTTP_METHODS:
            fields.error(
                "trigger.method", f'"{method}" is not an HTTP method; use one of: {", ".join(HTTP_METHODS)}'
            )
        obj["method"] = method
        paths = fields.text_list("trigger.paths")
        if not paths:
            fields.error(
                "trigger.paths",
                "is missing; an http function needs at least one path (example: paths: [/ping])",
            )
        for index, path in enumerate(paths):
            if not path.startswith("/"):
                fields.error(
                    "trigger.paths",
                    f'"{path}" must start with "/" (example: /ping)',
                    fields.item_line("trigger.paths", index),
                )
        obj["paths"] = paths
        obj["domains"] = _resolve_names(fields, fields.pick("domains", "trigger.domains"), resolver.domain)
    elif kind == "pubsub":
        obj["channel"] = fields.text("trigger.channel", required=True, example="my-channel")
        obj["local"] = fields.flag("trigger.local")
    elif kind == "p2p":
        service_key = fields.pick("trigger.service", "trigger.protocol")
        obj["service"] = fields.text(service_key, required=True, example="my-service")
        obj["command"] = fields.text("trigger.command", required=True, example="ping")
        obj["local"] = fields.flag("trigger.local")
    _smartops(fields, resolver, obj)
    return obj


def compile_smartop(name: str, fields: Fields, resolver: Resolver) -> dict[str, Any]:
    obj = _common(name, fields)
    fields.mapping("execution")
    obj["source"] = _source(fields, resolver)
    _execution(fields, obj)
    return obj


def valid_fqdn(text: str) -> bool:
    labels = text.split(".")
    return len(text) <= 253 and len(labels) >= 2 and all(_LABEL.fullmatch(label) for label in labels)


def compile_domain(name: str, fields: Fields, resolver: Resolver) -> dict[str, Any]:
    obj = _common(name, fields)
    fqdn = fields.text("fqdn").strip().lower().rstrip(".")
    if not fqdn:
        fields.error(
            "fqdn", "is missing; a domain needs its fully qualified name (example: fqdn: ping.example.com)"
        )
    elif not valid_fqdn(fqdn):
        fields.error("fqdn", f'"{fqdn}" is not a domain name (example: fqdn: ping.example.com)')
    obj["fqdn"] = fqdn
    fields.mapping("certificate")
    cert_type = fields.choice("certificate.type", CERT_TYPES, "auto")
    obj["cert-type"] = cert_type
    if cert_type == "inline":
        for part in ("cert", "key"):
            value = fields.text(f"certificate.{part}").strip()
            if not value:
                fields.error(
                    f"certificate.{part}",
                    "is missing; an inline certificate needs both `cert` and `key` (or use `type: auto`)",
                )
            obj[f"{part}-file"] = value
    return obj


def compile_website(name: str, fields: Fields, resolver: Resolver) -> dict[str, Any]:
    obj = _common(name, fields)
    fields.mapping("source")
    obj["domains"] = _resolve_names(fields, fields.pick("domains", "trigger.domains"), resolver.domain)
    obj["paths"] = fields.text_list(fields.pick("source.paths", "paths")) or ["/"]
    _repository(fields, obj, "website")
    return obj


def compile_library(name: str, fields: Fields, resolver: Resolver) -> dict[str, Any]:
    obj = _common(name, fields)
    fields.mapping("source")
    obj["path"] = fields.text("source.path", default="/")
    _repository(fields, obj, "library")
    return obj


def _matcher(fields: Fields, obj: dict[str, Any], match_key: str, regex_key: str) -> None:
    obj["match"] = fields.text(match_key, required=True, example="/data")
    obj["regex"] = fields.flag(regex_key)
    if obj["regex"] and obj["match"]:
        try:
            re.compile(obj["match"])
        except re.error as error:
            fields.error(match_key, f'"{obj["match"]}" is not a valid regular expression ({error})')


def compile_database(name: str, fields: Fields, resolver: Resolver) -> dict[str, Any]:
    obj = _common(name, fields)
    _matcher(fields, obj, "match", "useRegex")
    obj["local"] = fields.flag("local")
    obj["access"] = fields.choice("access.network", NETWORK_ACCESS, "all")
    obj["size"] = fields.size("storage.size", required=False) or 0
    if fields.has("encryption"):
        obj["encryption-type"] = fields.text("encryption.type")
        obj["encryption-key"] = fields.text("encryption.key")
    return obj


def compile_storage(name: str, fields: Fields, resolver: Resolver) -> dict[str, Any]:
    obj = _common(name, fields)
    _matcher(fields, obj, "match", "useRegex")
    obj["access"] = fields.choice("access.network", NETWORK_ACCESS, "all")
    if fields.has("streaming"):
        obj["type"] = "streaming"
        obj["ttl"] = fields.duration("streaming.ttl", required=False) or 0
        obj["size"] = fields.size("streaming.size", required=False) or 0
    else:
        obj["type"] = "object"
        obj["versioning"] = fields.flag("object.versioning")
        obj["size"] = fields.size("object.size", required=False) or 0
    return obj


def compile_messaging(name: str, fields: Fields, resolver: Resolver) -> dict[str, Any]:
    obj = _common(name, fields)
    obj["local"] = fields.flag("local")
    _matcher(fields, obj, "channel.match", "channel.regex")
    obj["mqtt"] = fields.flag("bridges.mqtt.enable")
    obj["websocket"] = fields.flag("bridges.websocket.enable")
    return obj


def compile_service(name: str, fields: Fields, resolver: Resolver) -> dict[str, Any]:
    obj = _common(name, fields)
    obj["protocol"] = fields.text("protocol", required=True, example="/my-service/v1")
    return obj


COMPILERS: dict[str, Any] = {
    "domains": compile_domain,
    "libraries": compile_library,
    "smartops": compile_smartop,
    "functions": compile_function,
    "websites": compile_website,
    "databases": compile_database,
    "storages": compile_storage,
    "messaging": compile_messaging,
    "services": compile_service,
}
