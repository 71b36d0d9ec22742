"""Checks of the daemon API's request bodies and query parameters: each refusal is a DreamError whose
sentence names the field, what it must be and what was sent (the API answers it as a 400)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from dream.errors import DreamError, json_type

# `offset` of /logs: beyond any real log, small enough for a file seek.
MAX_OFFSET = 1 << 53


async def body(request: Request) -> dict[str, Any]:
    """The request's JSON object ({} when the body is empty)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise DreamError(
            f"the body of {request.method} {request.url.path} is not valid JSON: send a JSON object"
        ) from None
    if not isinstance(data, dict):
        raise DreamError(
            f"the body of {request.method} {request.url.path} must be a JSON object, got {json_type(data)}"
        )
    return data


def text(data: dict[str, Any], name: str, *, required: str = "", default: str | None = None) -> str | None:
    """A string field; `required` is the sentence explaining it when it is missing."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise DreamError(required)
        return default
    if not isinstance(value, str):
        raise DreamError(f"`{name}` must be a string, got {json_type(value)}")
    return value


def flag(data: dict[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise DreamError(f"`{name}` must be true or false, got {json_type(value)}")
    return value


def query_offset(request: Request, name: str = "offset") -> int:
    raw = request.query_params.get(name, "") or "0"
    try:
        value = int(raw)
    except ValueError:
        raise DreamError(f"`{name}` must be a whole number of bytes (0 or more), got {raw!r}") from None
    if value < 0 or value > MAX_OFFSET:
        raise DreamError(f"`{name}` must be between 0 and {MAX_OFFSET} bytes, got {value}")
    return value
