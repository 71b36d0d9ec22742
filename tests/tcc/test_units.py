from __future__ import annotations

import pytest

from dream.tcc.errors import ConfigError
from dream.tcc.units import parse_duration, parse_size

SECOND = 1_000_000_000


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("10s", 10 * SECOND),
        ("1h15m", 75 * 60 * SECOND),
        ("300ms", 300_000_000),
        ("1.5s", 1_500_000_000),
        ("2m30s", 150 * SECOND),
        ("20us", 20_000),
        ("20µs", 20_000),
        ("20μs", 20_000),
        ("7ns", 7),
        ("42", 42),
        ("0", 0),
        (".5s", SECOND // 2),
        ("1h0m0.25s", 3600 * SECOND + SECOND // 4),
        (" 23s ", 23 * SECOND),
        (5, 5),
    ],
)
def test_durations(text: str | int, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10x", '"10x" is not a duration (example: 10s, 1h15m)'),
        ("", '"" is not a duration (example: 10s, 1h15m)'),
        ("s", '"s" is not a duration (example: 10s, 1h15m)'),
        ("10 s", '"10 s" is not a duration (example: 10s, 1h15m)'),
        ("1d", '"1d" is not a duration (example: 10s, 1h15m)'),
        ("10S", '"10S" is not a duration (example: 10s, 1h15m)'),
        ("-1s", '"-1s" is negative; a duration must be 0 or more (example: 10s, 1h15m)'),
        (1.5, "1.5 is not a duration (example: 10s, 1h15m)"),
        (True, "True is not a duration (example: 10s, 1h15m)"),
    ],
)
def test_bad_durations(text: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_duration(text)  # type: ignore[arg-type]
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("10MB", 10_000_000),
        ("32GB", 32_000_000_000),
        ("512KB", 512_000),
        ("1GiB", 1024**3),
        ("64MiB", 64 * 1024**2),
        ("100", 100),
        ("100B", 100),
        ("10mb", 10_000_000),
        ("2 MB", 2_000_000),
        ("1.5GB", 1_500_000_000),
        ("3M", 3_000_000),
        ("1TB", 10**12),
        (4096, 4096),
    ],
)
def test_sizes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10XB", '"10XB" is not a size (example: 10MB, 64MiB)'),
        ("MB", '"MB" is not a size (example: 10MB, 64MiB)'),
        ("10s", '"10s" is not a size (example: 10MB, 64MiB)'),
        ("-5MB", '"-5MB" is not a size (example: 10MB, 64MiB)'),
        ("1.5B", '"1.5B" is not a whole number of bytes (example: 10MB, 64MiB)'),
        (-1, "-1 is negative; a size must be 0 or more (example: 10MB, 64MiB)"),
        (None, "None is not a size (example: 10MB, 64MiB)"),
    ],
)
def test_bad_sizes(text: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_size(text)  # type: ignore[arg-type]
    assert str(caught.value) == message
