"""Durations and sizes as written in Taubyte YAML (`10s`, `1h15m`, `10MB`, `64MiB`).

Durations follow Go's `time.ParseDuration` (units ns, us/µs, ms, s, m, h; decimal fractions; several
parts like `2m30s`), except that a bare number means nanoseconds and negative values are refused,
because every duration in a config is a timeout or a TTL.

Sizes use decimal SI units for `KB`/`MB`/`GB`/`TB`/`PB` (`MB` = 1000**2 bytes) and binary IEC units
for `KiB`/`MiB`/`GiB`/`TiB`/`PiB` (`MiB` = 1024**2 bytes), as the Go `units` library does for its
strict byte parser. Suffixes are case-insensitive (`10mb` = `10MB`), a bare `K`/`M`/`G` is the same
as `KB`/`MB`/`GB`, and a bare number means bytes.
"""

from __future__ import annotations

import re
from fractions import Fraction

from dream.tcc.errors import ConfigError

DURATION_EXAMPLE = "10s, 1h15m"
SIZE_EXAMPLE = "10MB, 64MiB"

_NS_PER_UNIT: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign, what Go prints
    "\u03bcs": 1_000,  # greek mu, what people type
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")

_BYTES_PER_UNIT: dict[str, int] = {"": 1, "B": 1}
for _power, _letter in enumerate("KMGTP", start=1):
    _BYTES_PER_UNIT[_letter] = _BYTES_PER_UNIT[_letter + "B"] = 1000**_power
    _BYTES_PER_UNIT[_letter + "I"] = _BYTES_PER_UNIT[_letter + "IB"] = 1024**_power
_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)")


def _shown(text: object) -> str:
    return f'"{text}"' if isinstance(text, str) else repr(text)


def parse_duration(text: str | int) -> int:
    """Nanoseconds in a Go-style duration; `ConfigError` (without a location) when it is not one."""
    bad = ConfigError(f"{_shown(text)} is not a duration (example: {DURATION_EXAMPLE})")
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise bad
    if isinstance(text, int):
        if text < 0:
            raise ConfigError(
                f"{text} is negative; a duration must be 0 or more (example: {DURATION_EXAMPLE})"
            )
        return text
    value = text.strip()
    if value.startswith("-"):
        raise ConfigError(
            f"{_shown(text)} is negative; a duration must be 0 or more (example: {DURATION_EXAMPLE})"
        )
    value = value.removeprefix("+")
    if value.isdigit():
        return int(value)
    if value == "":
        raise bad
    total = Fraction(0)
    position = 0
    while position < len(value):
        part = _DURATION_PART.match(value, position)
        if part is None:
            raise bad
        total += Fraction(part.group(1)) * _NS_PER_UNIT[part.group(2)]
        position = part.end()
    return int(total)  # Go truncates sub-nanosecond remainders too


def parse_size(text: str | int) -> int:
    """Bytes in a size like `10MB` or `64MiB`; `ConfigError` (without a location) when it is not one."""
    bad = ConfigError(f"{_shown(text)} is not a size (example: {SIZE_EXAMPLE})")
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise bad
    if isinstance(text, int):
        if text < 0:
            raise ConfigError(f"{text} is negative; a size must be 0 or more (example: {SIZE_EXAMPLE})")
        return text
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise bad
    unit = _BYTES_PER_UNIT.get(match.group(2).upper())
    if unit is None:
        raise bad
    amount = Fraction(match.group(1)) * unit
    if amount.denominator != 1:
        raise ConfigError(f"{_shown(text)} is not a whole number of bytes (example: {SIZE_EXAMPLE})")
    return int(amount)
