"""Universe shape flags: upstream's rules and error texts."""

from __future__ import annotations

import pytest

from dream.errors import DreamError
from dream.shapes import Shape, load_shape, parse_bind, shape_from_flags
from dream.spec import SERVICES


def test_default_shape_has_every_service_and_the_simples() -> None:
    shape = load_shape()
    assert sorted(shape.services) == sorted(SERVICES)
    assert set(shape.simples) == {"elder", "client", "git"}
    assert shape.simples["elder"].clients == []


def test_enable_and_disable_together_is_an_error() -> None:
    with pytest.raises(DreamError, match="can't set enable and disable flags"):
        shape_from_flags(base=load_shape(), enable=["tns"], disable=["auth"])


def test_enable_keeps_only_those_services() -> None:
    shape = shape_from_flags(base=load_shape(), enable=["tns", "seer"])
    assert sorted(shape.services) == ["seer", "tns"]


def test_disable_removes_services() -> None:
    shape = shape_from_flags(base=load_shape(), disable=["gateway", "monkey"])
    assert "gateway" not in shape.services and "monkey" not in shape.services
    assert "tns" in shape.services


def test_binding_a_disabled_service_is_an_error() -> None:
    with pytest.raises(DreamError, match="could not bind port of service `gateway`: disabled"):
        shape_from_flags(base=load_shape(), disable=["gateway"], binds=["gateway@9000/http"])


def test_duplicate_ports_are_an_error() -> None:
    with pytest.raises(
        DreamError, match=r"attempted duplicate port bindings \[tns@9000/p2p\] and \[auth@9000/http\]"
    ):
        shape_from_flags(base=load_shape(), binds=["tns@9000/p2p", "auth@9000/http"])


def test_bind_copies_verbose_and_ports() -> None:
    shape = shape_from_flags(
        base=load_shape(), binds=["substrate@3/copies", "tns@1/verbose", "seer@9053/dns"]
    )
    assert shape.services["substrate"].copies == 3
    assert shape.services["tns"].verbose
    assert shape.services["seer"].ports == {"dns": 9053}


@pytest.mark.parametrize("text", ["substrate", "substrate@", "substrate@x/http", "substrate@1/https2"])
def test_bad_bind_is_explained(text: str) -> None:
    with pytest.raises(DreamError, match="bad --bind"):
        parse_bind(text)


def test_unknown_service_lists_the_valid_ones() -> None:
    with pytest.raises(DreamError, match="service `nope` is not valid, should be one of"):
        shape_from_flags(base=load_shape(), enable=["nope"])


def test_empty_shape_and_api_round_trip() -> None:
    assert shape_from_flags(base=load_shape(), empty=True) == Shape()
    shape = shape_from_flags(base=load_shape(), binds=["substrate@2/copies"], simples=["client"])
    again = Shape.from_api(shape.to_api())
    assert again.services["substrate"].copies == 2
    assert list(again.simples) == ["client"]


def test_unknown_shape_name_lists_available() -> None:
    with pytest.raises(DreamError, match="universe shape `nope` not found; choose one of"):
        load_shape("nope")
