"""Errors that reach a user as one sentence (never a traceback)."""

from __future__ import annotations

from typing import Any


class DreamError(Exception):
    """An error whose message is meant for the user as-is."""


class DaemonNotRunning(DreamError):
    """No daemon answers on the expected address."""


def json_type(value: Any) -> str:
    """How a JSON value is named in an error sentence (`got the string 'two'`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) <= 40 else "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
