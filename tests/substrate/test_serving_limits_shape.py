"""The substrate's serving limits in a universe's shape: YAML and API forms, defaults, and the errors
a bad value gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from dream.errors import DreamError
from dream.limits import Limits, format_size
from dream.node.config import NodeConfig
from dream.shapes import ServiceShape, Shape, load_shape, shape_from_flags

YAML = """
services:
  tns: {}
  substrate:
    copies: 2
    limits:
      timeout: 1m
      memory: 512MB
      calls: 40
      calls_per_project: 12
      calls_per_function: 3
      queued_per_function: 50
"""


def test_limits_from_a_yaml_shape_reach_the_node_as_numbers(tmp_path: Path) -> None:
    path = tmp_path / "tight.yaml"
    path.write_text(YAML)
    shape = load_shape(str(path))
    substrate = shape.services["substrate"]
    assert substrate.limits == {
        "timeout": 60_000_000_000,
        "memory": 512_000_000,
        "calls": 40,
        "calls_per_project": 12,
        "calls_per_function": 3,
        "queued_per_function": 50,
    }
    others = substrate.node_others()
    assert others["limits.timeout"] == 60_000_000_000 and "verbose" not in others
    config = NodeConfig.from_dict(
        {
            "universe": "u",
            "universe_id": "id",
            "key": "00",
            "kind": "service",
            "name": "substrate",
            "index": 0,
            "id": "p",
            "root": str(tmp_path),
            "ports": {},
            "others": others,
        }
    )
    assert Limits.from_others(config.others) == Limits(
        timeout=60.0,
        memory=512_000_000,
        calls=40,
        calls_per_project=12,
        calls_per_function=3,
        queued_per_function=50,
    )
    # The CLI's flags keep them; the daemon's API form carries them and reads them back.
    flagged = shape_from_flags(base=shape, binds=["substrate@3/copies"])
    assert flagged.services["substrate"].limits == substrate.limits
    assert Shape.from_api(shape.to_api()).services["substrate"].limits == substrate.limits
    assert "Limits" not in shape.services["tns"].to_api()


def test_limits_left_out_keep_their_defaults() -> None:
    shape = ServiceShape.from_api("substrate", {"Others": {"copies": 1}, "Limits": {"memory": "1GiB"}})
    assert shape.limits == {"memory": 1 << 30}
    limits = Limits.from_others(shape.node_others())
    assert limits == Limits(memory=1 << 30)
    assert (limits.timeout, limits.calls_per_function) == (Limits().timeout, Limits().calls_per_function)
    assert Limits.from_others({}) == Limits()
    assert load_shape("default").services["substrate"].limits == {}


@pytest.mark.parametrize(
    ("service", "limits", "message"),
    [
        ("tns", {"timeout": "1s"}, "service `tns` has `limits`, but only the substrate takes them"),
        ("substrate", ["timeout"], "`limits` of the substrate must be a mapping of limit names"),
        ("substrate", {"speed": 3}, "`speed` is not a limit of the substrate; choose among [timeout, memory"),
        ("substrate", {"timeout": "soon"}, 'limit `timeout` of the substrate: "soon" is not a duration'),
        ("substrate", {"timeout": "10us"}, "limit `timeout` of the substrate must be at least 1ms"),
        ("substrate", {"memory": "lots"}, 'limit `memory` of the substrate: "lots" is not a size'),
        ("substrate", {"memory": "1KB"}, "limit `memory` of the substrate must be at least 64KiB"),
        ("substrate", {"calls": "many"}, "limit `calls` of the substrate must be a whole number, got 'many'"),
        ("substrate", {"calls": 0}, "limit `calls` of the substrate must be between 1 and 250, got 0"),
        ("substrate", {"calls_per_function": 251}, "must be between 1 and 250, got 251"),
        ("substrate", {"queued_per_function": 0}, "must be at least 1, got 0"),
        ("substrate", {"calls_per_project": True}, "must be a whole number, got True"),
    ],
)
def test_a_bad_limit_is_refused_saying_what_and_where(service: str, limits: object, message: str) -> None:
    with pytest.raises(DreamError) as caught:
        ServiceShape.from_api(service, {"Others": {}, "Limits": limits})
    assert message in str(caught.value)


def test_a_bad_limit_in_a_yaml_shape_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("services:\n  substrate:\n    limits:\n      memory: -5\n")
    with pytest.raises(DreamError, match=r"bad\.yaml: limit `memory` of the substrate: -5 is negative"):
        load_shape(str(path))


def test_sizes_are_shown_as_a_shape_would_write_them() -> None:
    sizes = (2 << 30, 100_000_000, 64 << 20, 64_000_000, 1_500_000, 1_500_001, 512)
    assert [format_size(n) for n in sizes] == ["2GiB", "100MB", "64MiB", "64MB", "1500KB", "1.4MiB", "512B"]
