"""The serving limits a universe sets (its shape's `limits:`): what its functions may take from a substrate.

Set in the universe's shape, under the substrate service (`limits:` in `universes/<name>.yaml`, or
`"Limits"` in the daemon API's config), and carried to each substrate node in its `NodeConfig.others`
as plain integers (`limits.<name>`: nanoseconds, bytes or a count). A limit left out keeps its default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from dream.errors import DreamError

SERVICE = "substrate"  # the only service that takes limits
PREFIX = "limits."  # their keys in NodeConfig.others
MIN_MEMORY = 64 * 1024  # one wasm page: the least memory a call can be given
MAX_CALLS = 250  # wasmtime's instance pool holds 256 slots; a few stay free for calls run inline


@dataclass(frozen=True, slots=True)
class Limits:
    timeout: float = 30.0  # seconds: a function's `execution.timeout` above it is clamped to it
    memory: int = 2 << 30  # bytes: the sum of `execution.memory` of the calls running at once
    calls: int = 128  # calls running at once on one substrate
    calls_per_project: int = 16  # calls of one project's functions running at once
    calls_per_function: int = 8  # calls of one function running at once
    queued_per_function: int = 1024  # calls of one function waiting for a slot
    replicas: int = 256 << 20  # bytes of database keyspaces a substrate holds (least read dropped first)
    replica_idle: float = 600.0  # seconds a database keyspace is held here without being read

    @classmethod
    def from_others(cls, others: Mapping[str, int]) -> Limits:
        """The limits a node was given (`NodeConfig.others`), defaults for the rest."""
        values: dict[str, Any] = {}
        for name in NAMES:
            raw = others.get(PREFIX + name)
            if raw is not None:
                values[name] = int(raw) / 1e9 if _KINDS.get(name) == "duration" else int(raw)
        return cls(**values)

    def describe(self) -> str:
        return (
            f"timeout ≤ {self.timeout:g}s, memory {format_size(self.memory)}, {self.calls} calls "
            f"({self.calls_per_project} per project, {self.calls_per_function} per function, "
            f"{self.queued_per_function} queued per function)"
        )


NAMES: tuple[str, ...] = tuple(f.name for f in fields(Limits))
# Every other limit is a count.
_KINDS = {"timeout": "duration", "memory": "size", "replicas": "size", "replica_idle": "duration"}


def parse(service: str, settings: Any) -> dict[str, int]:
    """A shape's `limits` of `service` as plain integers (ns, bytes, counts); DreamError saying what is
    wrong, where, and what is allowed."""
    if settings is None:
        return {}
    if service != SERVICE:
        raise DreamError(
            f"service `{service}` has `limits`, but only the {SERVICE} takes them; remove them from `{service}`"
        )
    if not isinstance(settings, Mapping):
        raise DreamError(
            f"`limits` of the {SERVICE} must be a mapping of limit names to values "
            f"(one of [{', '.join(NAMES)}]), got {settings!r}"
        )
    out: dict[str, int] = {}
    for name, value in settings.items():
        if name not in NAMES:
            raise DreamError(f"`{name}` is not a limit of the {SERVICE}; choose among [{', '.join(NAMES)}]")
        out[name] = _value(str(name), value)
    return out


def _value(name: str, value: Any) -> int:
    where = f"limit `{name}` of the {SERVICE}"
    kind = _KINDS.get(name, "count")
    if kind == "count":
        if isinstance(value, bool) or not isinstance(value, int):
            raise DreamError(f"{where} must be a whole number, got {value!r}")
        top = MAX_CALLS if name.startswith("calls") else None
        if value < 1 or (top is not None and value > top):
            bounds = f"between 1 and {top}" if top is not None else "at least 1"
            raise DreamError(f"{where} must be {bounds}, got {value}")
        return value
    # Imported here: the CLI reads shapes at start-up, and a shape seldom sets a duration or a size.
    from dream.tcc.errors import ConfigError
    from dream.tcc.units import parse_duration, parse_size

    try:
        number = parse_duration(value) if kind == "duration" else parse_size(value)
    except ConfigError as exc:
        raise DreamError(f"{where}: {exc}") from None
    if kind == "duration" and number < 1_000_000:
        raise DreamError(f"{where} must be at least 1ms, got {value!r}")
    if kind == "size" and number < MIN_MEMORY:
        raise DreamError(f"{where} must be at least 64KiB (one wasm page), got {value!r}")
    return number


_UNITS = [(1 << 30, "GiB"), (10**9, "GB"), (1 << 20, "MiB"), (10**6, "MB"), (1 << 10, "KiB"), (10**3, "KB")]


def format_size(n: int) -> str:
    """A size as a shape or a function config would write it: exact units first (100MB, 2GiB)."""
    for unit, name in _UNITS:
        if n >= unit and n % unit == 0:
            return f"{n // unit}{name}"
    for unit, name in _UNITS:
        if n >= unit:
            return f"{n / unit:.1f}{name}"
    return f"{n}B"


def to_others(limits: Mapping[str, int]) -> dict[str, int]:
    """Parsed limits as `NodeConfig.others` entries."""
    return {PREFIX + name: int(value) for name, value in limits.items()}
