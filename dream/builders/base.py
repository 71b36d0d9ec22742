"""Public types of the builders: the Builder protocol, its result, and the config it accepts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dream.builders.toolchains import Toolchain

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


class Builder(Protocol):
    name: str
    images: tuple[str, ...]

    def toolchain(self) -> Toolchain: ...

    def build(
        self,
        src: Path,
        out: Path,
        *,
        config: BuildConfigLike,
        log: LogFn,
        timeout: float,
        cancel: threading.Event | None = None,
    ) -> BuildResult: ...
