"""Public types of the builders: a build's result, and the config a builder accepts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

LogFn = Callable[[str], None]


class BuildConfigLike(Protocol):
    """What a builder reads from a build definition (dream.tcc's BuildConfig or our local one)."""

    @property
    def image(self) -> str: ...
    @property
    def variables(self) -> Mapping[str, str]: ...
    @property
    def workflow(self) -> tuple[str, ...] | list[str]: ...


@dataclass(frozen=True)
class BuildResult:
    ok: bool
    artifact: Path | None  # artifact.zip: main.wasm for functions, the whole output for websites
    wasm: Path | None  # the unzipped main.wasm (None for websites and failures)
    log: str
    duration: float
    cached: bool
    error: str | None
