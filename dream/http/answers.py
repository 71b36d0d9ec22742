"""JSON routes' answers: a handler returns data (or a Response); its errors take the `{"code", "error"}` shape
(upstream's 400 for bad input)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dream.errors import DreamError

Handler = Callable[[Request], Awaitable[Any]]


def reply(status: int, message: str) -> JSONResponse:
    return JSONResponse({"code": status, "error": message}, status_code=status)


def answer(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """None → 404; DreamError, a missing field or a bad value → 400 with the sentence."""

    async def endpoint(request: Request) -> Response:
        try:
            result = await handler(request)
        except (DreamError, KeyError, ValueError) as exc:
            return reply(400, f"missing field {exc}" if isinstance(exc, KeyError) else str(exc))
        if result is None:
            return reply(404, f"not found: {request.url.path}")
        return result if isinstance(result, Response) else JSONResponse(result)

    return endpoint
