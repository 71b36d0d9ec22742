"""Universe shapes: which services (how many copies, which ports) and which simples a universe runs.

Shapes come from `universes/<name>.yaml` and from the CLI's --enable/--disable/--bind/--simples flags, and
travel to the daemon in upstream's config shape (`{"Services": {...}, "Simples": {...}}`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dream import limits as serving_limits
from dream.errors import DreamError, json_type
from dream.settings import repo_root
from dream.spec import CLIENTS, PORT_PROTOCOLS, SERVICES, SIMPLES, VALID_SUB_BINDS

DEFAULT_SHAPE = "default"
# Copies of one service a config may ask for: each is a process, and a typo of 1000 should not fork-bomb.
MAX_COPIES = 100
SIMPLE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")


def _object(value: Any, where: str, example: str) -> dict[str, Any]:
    """`value` as a JSON object (null counts as empty), else a DreamError naming `where`."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DreamError(f"{where} must be a JSON object like {example}, got {json_type(value)}")
    return value


def _whole(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DreamError(f"{where} must be a whole number from {low} to {high}, got {json_type(value)}")
    return value


def _disabled(value: Any, where: str) -> bool:
    if not isinstance(value, dict):
        return False
    disabled = value.get("Disabled", False)
    if disabled is None:
        return False
    if not isinstance(disabled, bool):
        raise DreamError(f"{where}: `Disabled` must be true or false, got {json_type(disabled)}")
    return disabled


@dataclass
class ServiceShape:
    copies: int = 1
    ports: dict[str, int] = field(default_factory=dict)  # explicit binds; others are kernel-allocated
    verbose: bool = False
    # The substrate's serving limits (dream.limits): name → ns, bytes or a count; unset: default.
    limits: dict[str, int] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        others: dict[str, int] = {"copies": self.copies, **self.ports}
        if self.verbose:
            others["verbose"] = 1
        api: dict[str, Any] = {"Others": others, "Disabled": False}
        if self.limits:
            api["Limits"] = dict(self.limits)
        return api

    def node_others(self) -> dict[str, int]:
        """The settings each node of this service gets in `NodeConfig.others`."""
        return {**({"verbose": 1} if self.verbose else {}), **serving_limits.to_others(self.limits)}

    @classmethod
    def from_api(cls, name: str, data: Any) -> ServiceShape:
        where = f"service `{name}`"
        config = _object(data, f"the config of {where}", '{"Others": {"copies": 1}}')
        others = dict(_object(config.get("Others"), f"`Others` of {where}", '{"copies": 2, "http": 8080}'))
        copies = others.pop("copies", 1)
        if copies is None or (type(copies) is int and copies == 0):
            copies = 1  # upstream's zero value: one copy
        if isinstance(copies, int) and not isinstance(copies, bool) and copies < 1:
            raise DreamError(f"{where} needs at least 1 copy, got {copies}")
        copies = _whole(copies, f"`copies` of {where}", 1, MAX_COPIES)
        verbose = others.pop("verbose", 0)
        if verbose is None:
            verbose = 0
        if not isinstance(verbose, bool | int):
            raise DreamError(f"`verbose` of {where} must be 0, 1, true or false, got {json_type(verbose)}")
        ports = {
            k: _whole(v, f"the {k} port of {where}", 0, 65535)
            for k, v in others.items()
            if k in PORT_PROTOCOLS and v is not None
        }
        limits = serving_limits.parse(name, config.get("Limits"))
        return cls(
            copies=copies, ports={k: v for k, v in ports.items() if v}, verbose=bool(verbose), limits=limits
        )


@dataclass
class SimpleShape:
    clients: list[str] = field(default_factory=lambda: list(CLIENTS))

    def to_api(self) -> dict[str, Any]:
        return {"Clients": {c: {} for c in self.clients}, "Disabled": False}

    @classmethod
    def from_api(cls, name: str, data: Any) -> SimpleShape:
        check_simple_name(name)
        where = f"simple `{name}`"
        config = _object(data, f"the config of {where}", '{"Clients": {"tns": {}}}')
        clients = list(_object(config.get("Clients"), f"`Clients` of {where}", '{"tns": {}, "auth": {}}'))
        check_clients(clients)
        return cls(clients=clients)


@dataclass
class Shape:
    services: dict[str, ServiceShape] = field(default_factory=dict)
    simples: dict[str, SimpleShape] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        return {
            "Services": {n: s.to_api() for n, s in self.services.items()},
            "Simples": {n: s.to_api() for n, s in self.simples.items()},
        }

    @classmethod
    def from_api(cls, config: Any) -> Shape:
        example = '{"Services": {"substrate": {"Others": {"copies": 1}}}, "Simples": {"client": {}}}'
        config = _object(config, "`config`", example)
        services = _object(config.get("Services"), "`Services` of `config`", '{"substrate": {}}')
        simples = _object(config.get("Simples"), "`Simples` of `config`", '{"client": {}}')
        for name in services:
            check_service(name)
        shape = cls(
            services={
                n: ServiceShape.from_api(n, c)
                for n, c in services.items()
                if not _disabled(c, f"service `{n}`")
            },
            simples={
                n: SimpleShape.from_api(n, c) for n, c in simples.items() if not _disabled(c, f"simple `{n}`")
            },
        )
        check_duplicate_ports(shape)
        return shape


def check_service(name: str) -> None:
    if name not in SERVICES:
        raise DreamError(f"service `{name}` is not valid, should be one of [{', '.join(SERVICES)}]")


def check_simple_name(name: str) -> None:
    if not SIMPLE_NAME.fullmatch(name):
        raise DreamError(
            f"`{name}` is not a valid simple name: lower-case letters, digits, - and _, starting with a letter"
        )


def check_clients(clients: list[str]) -> None:
    for client in clients:
        if client not in CLIENTS:
            raise DreamError(f"client `{client}` not valid, should be one of [{', '.join(CLIENTS)}]")


def shapes_dir() -> Path:
    return repo_root() / "universes"


def available_shapes() -> list[str]:
    return sorted(p.stem for p in shapes_dir().glob("*.yaml"))


def load_shape(name_or_path: str = DEFAULT_SHAPE) -> Shape:
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = shapes_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        raise DreamError(
            f"universe shape `{name_or_path}` not found; choose one of [{', '.join(available_shapes())}] "
            f"or give the path of a YAML file"
        )
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DreamError(f"{path}: not valid YAML: {exc}") from None
    services: dict[str, ServiceShape] = {}
    for name, spec in (data.get("services") or {}).items():
        check_service(name)
        spec = spec or {}
        try:
            limits = serving_limits.parse(name, spec.get("limits"))
        except DreamError as exc:
            raise DreamError(f"{path}: {exc}") from None
        services[name] = ServiceShape(
            copies=int(spec.get("copies", 1)),
            ports={k: int(v) for k, v in (spec.get("ports") or {}).items()},
            verbose=bool(spec.get("verbose", False)),
            limits=limits,
        )
    simples: dict[str, SimpleShape] = {}
    for name, spec in (data.get("simples") or {}).items():
        clients = (spec or {}).get("clients")
        simples[name] = SimpleShape(clients=list(CLIENTS) if clients is None else list(clients))
        check_clients(simples[name].clients)
    return Shape(services=services, simples=simples)


def parse_bind(text: str) -> tuple[str, int, str]:
    """`substrate@8080/http` → ("substrate", 8080, "http"); no protocol means the p2p port (`main`)."""
    name, sep, rest = text.partition("@")
    if not sep or not name or not rest:
        raise DreamError(f"bad --bind `{text}`: expected service@PORT[/{'|'.join(VALID_SUB_BINDS)}]")
    number, _, sub = rest.partition("/")
    sub = sub or "p2p"
    if sub not in VALID_SUB_BINDS:
        raise DreamError(f"bad --bind `{text}`: `{sub}` is not one of [{', '.join(VALID_SUB_BINDS)}]")
    try:
        value = int(number)
    except ValueError:
        raise DreamError(f"bad --bind `{text}`: `{number}` is not a number") from None
    return name, value, sub


def shape_from_flags(
    *,
    base: Shape,
    empty: bool = False,
    enable: list[str] | None = None,
    disable: list[str] | None = None,
    binds: list[str] | None = None,
    simples: list[str] | None = None,
) -> Shape:
    """Apply the CLI's shape flags to a base shape, with upstream's rules and error texts."""
    enable, disable, binds = enable or [], disable or [], binds or []
    if enable and disable:
        raise DreamError("can't set enable and disable flags")
    if empty:
        if enable or disable:
            raise DreamError("enable and disable are useless when creating an empty universe")
        return Shape()
    for name in enable + disable:
        check_service(name)
    names = enable or [s for s in base.services or dict.fromkeys(SERVICES) if s not in disable]
    services = {n: base.services.get(n, ServiceShape()) for n in names}
    services = {
        n: ServiceShape(copies=s.copies, ports=dict(s.ports), verbose=s.verbose, limits=dict(s.limits))
        for n, s in services.items()
    }
    seen: dict[int, str] = {}
    for text in binds:
        name, value, sub = parse_bind(text)
        if name in SIMPLES:
            raise DreamError(
                f"could not bind port of `{name}`: simples only have a p2p port chosen by the kernel"
            )
        check_service(name)
        if name not in services:
            raise DreamError(f"could not bind port of service `{name}`: disabled")
        if sub in PORT_PROTOCOLS:
            if value in seen:
                raise DreamError(f"attempted duplicate port bindings [{seen[value]}] and [{text}]")
            seen[value] = text
            services[name].ports[sub] = value
        elif sub == "copies":
            if value < 1:
                raise DreamError(f"bad --bind `{text}`: copies must be at least 1")
            services[name].copies = value
        elif sub == "verbose":
            services[name].verbose = bool(value)
    simple_shapes = base.simples if simples is None else {n: SimpleShape() for n in simples if n}
    return Shape(services=services, simples=dict(simple_shapes))


def check_duplicate_ports(shape: Shape) -> None:
    seen: dict[int, str] = {}
    for name, service in shape.services.items():
        for protocol, port in service.ports.items():
            where = f"{name}@{port}/{protocol}"
            if port in seen:
                raise DreamError(f"attempted duplicate port bindings [{seen[port]}] and [{where}]")
            seen[port] = where
