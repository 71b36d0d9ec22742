"""Config problems a user can fix: each names the file, line and key it is about."""

from __future__ import annotations

from dataclasses import dataclass, replace

from dream.errors import DreamError


@dataclass(eq=False)
class ConfigError(DreamError):
    """One problem in a config or build file.

    `file` is relative to the repo root, `key` is dotted (`execution.timeout`). Renders as
    `functions/ping.yaml:7: execution.timeout: "10x" is not a duration (example: 10s, 1h15m)`.
    """

    message: str
    file: str | None = None
    line: int | None = None
    key: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def at(self, *, file: str | None = None, line: int | None = None, key: str | None = None) -> ConfigError:
        """A copy located in a file; fields already set win (the inner code knew better)."""
        return replace(
            self,
            file=self.file or file,
            line=self.line if self.line is not None else line,
            key=self.key or key,
        )

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
            where += ": "
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.message}"


class CompileError(DreamError):
    """Every problem found in one compile, so the user can fix them all in one go."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = list(errors)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(error) for error in self.errors)
