"""Pieces shared by the CLI's commands: the client, list flags, and the universe shape flags."""

from __future__ import annotations

import inspect
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from dream.client import DreamClient
from dream.settings import DEFAULT_UNIVERSE, daemon_url

if TYPE_CHECKING:
    from dream.shapes import Shape


state: dict[str, Any] = {"port": None}

UniverseArg = typer.Argument(DEFAULT_UNIVERSE, help="Universe name", show_default=True)


def client() -> DreamClient:
    return DreamClient(daemon_url(state["port"]))


def print_from_offset(
    read: Callable[[int], dict[str, Any]],
    *,
    follow: bool,
    every: float,
    until: Callable[[dict[str, Any]], bool],
) -> dict[str, Any]:
    """Print the `text` of `read(offset)` from offset 0, asking again from the `offset` each answer gives:
    once, or with `follow` until `until(answer)`, waiting `every` seconds when nothing new came. The last
    answer."""
    offset = 0
    while True:
        answer = read(offset)
        sys.stdout.write(answer["text"])
        sys.stdout.flush()
        offset = answer["offset"]
        if not follow or until(answer):
            return answer
        if not answer["text"]:
            time.sleep(every)


def split(values: list[str] | None) -> list[str]:
    """`--enable a,b --enable c` → [a, b, c]."""
    return [item.strip() for value in values or [] for item in value.split(",") if item.strip()]


def build_shape(
    *,
    shape: str | None,
    empty: bool,
    enable: list[str] | None,
    disable: list[str] | None,
    bind: list[str] | None,
    simples: list[str] | None,
) -> Shape:
    from dream.shapes import load_shape, shape_from_flags

    return shape_from_flags(
        base=load_shape(shape or "default"),
        empty=empty,
        enable=split(enable),
        disable=split(disable),
        binds=split(bind),
        simples=split(simples) if simples is not None else None,
    )


EmptyOpt = typer.Option(False, "--empty", help="Create an empty universe (overrides the flags below)")
EnableOpt = typer.Option(None, "--enable", help="Only these services (comma list)")
DisableOpt = typer.Option(None, "--disable", help="Every service but these (comma list)")
BindOpt = typer.Option(None, "--bind", help="service@PORT/http|https|p2p|dns|copies|verbose (comma list)")
FixturesOpt = typer.Option(None, "--fixtures", help="Fixtures to run once the universe is up (comma list)")
SimplesOpt = typer.Option(None, "--simples", help="Simples to start (comma list; default elder,client)")
ShapeOpt = typer.Option(None, "--shape", help="Universe shape from universes/ (name) or a YAML file path")
KeepOpt = typer.Option(False, "--keep", help="Keep the universe under ~/.cache/dream and reload it next time")
# The flags of a new universe, as `dream new multiverse` and `dream new universe` both take them.
SHAPE_FLAGS: tuple[tuple[str, Any, Any], ...] = (
    ("keep", bool, KeepOpt),
    ("empty", bool, EmptyOpt),
    ("enable", list[str], EnableOpt),
    ("disable", list[str], DisableOpt),
    ("bind", list[str], BindOpt),
    ("fixtures", list[str], FixturesOpt),
    ("simples", list[str], SimplesOpt),
)


def with_shape_flags(after: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the SHAPE_FLAGS, listed after its parameter `after`: typer reads the command's
    signature, and the command takes the flags as keyword arguments (`**flags`)."""

    def add(command: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        at = [p.name for p in own].index(after) + 1
        flags = [
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=kind)
            for name, kind, default in SHAPE_FLAGS
        ]
        command.__signature__ = signature.replace(parameters=[*own[:at], *flags, *own[at:]])  # type: ignore[attr-defined]
        return command

    return add


def shape_of(shape: str | None, flags: dict[str, Any]) -> Shape:
    """The universe shape the SHAPE_FLAGS of a command ask for."""
    return build_shape(
        shape=shape,
        empty=flags["empty"],
        enable=flags["enable"],
        disable=flags["disable"],
        bind=flags["bind"],
        simples=flags["simples"],
    )


JsonOpt = typer.Option(False, "--json", help="Print JSON instead of a table")
