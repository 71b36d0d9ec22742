"""What a node route takes, declared once: JSON bodies, query parameters and ids in the path.

A route declares a `Body` (a JSON object's fields and their kinds), a `Query`, or a `Text` kind for a
path parameter; reading a request through it returns the checked values or raises `BadInput`, a `DreamError`
that `dream.http.answers.answer` turns into `{"code": 400, "error": "<sentence>"}`. The sentence says what
is wrong, where (the route and the field) and how to fix it (the shape the route takes):

    POST /tns/fetch: field `path` must be a tns path ("a/b/c" or ["a", "b", "c"]), got 5;
    send {"path": "a/b/c" or ["a", "b", "c"]}

Small hand-written checks rather than pydantic: every node process would load pydantic (~10 MB of
resident memory each, ~0.1 s of start-up), and these run in microseconds on the hot paths (tns fetch).
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.routing import Match

from dream.errors import DreamError

# How much of a refused value a message quotes.
SHOWN_CHARS = 60


class BadInput(DreamError):
    """A request a node refuses as it is (answered 400 with this sentence)."""


class Invalid(Exception):
    """A value that is not of its kind: `problem` completes "field `x` ...", `at` is the path below it."""

    def __init__(self, problem: str, at: tuple[str | int, ...] = ()) -> None:
        super().__init__(problem)
        self.problem = problem
        self.at = at


def shown(value: Any) -> str:
    """A refused value as a message quotes it: JSON, control characters escaped, cut short."""
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):  # not JSON, or an integer of more digits than Python prints
        text = f"<{type(value).__name__}>"
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def field_name(at: tuple[str | int, ...]) -> str:
    name = ""
    for part in at:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else part)
    return name


# -- kinds of JSON values ------------------------------------------------------------------------------


class Kind:
    """One kind of JSON value: `what` completes "must be ...", `hint` shows it in a route's shape."""

    what = "a value"
    hint = "value"

    def check(self, value: Any) -> Any:
        """The value (normalised) when it is of this kind, else Invalid."""
        raise NotImplementedError

    def wrong(self, value: Any) -> Invalid:
        return Invalid(f"must be {self.what}, got {shown(value)}")


class AnyJson(Kind):
    what, hint = "any JSON value", "any JSON value"

    def check(self, value: Any) -> Any:
        return value


class Text(Kind):
    """A string; `pattern` (full match) and `example` make it an id of a known format."""

    def __init__(
        self,
        what: str = "a string",
        *,
        pattern: str | None = None,
        example: str = "",
        hint: str = "",
        empty: bool = True,
    ) -> None:
        self.what = f"{what} such as {example}" if example else what
        self.hint = hint or (f'"{example}"' if example else "string")
        self.pattern = re.compile(pattern) if pattern else None
        self.empty = empty

    def check(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise self.wrong(value)
        if value == "" and not self.empty:
            raise Invalid(f"must not be empty: it must be {self.what}")
        if value and self.pattern is not None and self.pattern.fullmatch(value) is None:
            raise self.wrong(value)
        return value

    def or_empty(self) -> Text:
        """The same kind, or "" (a field whose empty value means "none")."""
        other = copy.copy(self)
        other.empty, other.what = True, f'{self.what}, or ""'
        return other

    def param(self, request: Request, name: str) -> str:
        """The path parameter `name` of `request`, checked."""
        value = request.path_params[name]
        try:
            return str(self.check(value))
        except Invalid as exc:
            raise BadInput(f"{route_of(request)}: `{name}` in the path {exc.problem}") from None


class Integer(Kind):
    def __init__(self, minimum: int | None = None, maximum: int | None = None) -> None:
        self.minimum, self.maximum = minimum, maximum
        bounds = _bounds(minimum, maximum)
        self.what, self.hint = f"an integer{bounds}", f"integer{bounds}"

    def check(self, value: Any) -> Any:
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.wrong(value)
        _within(self, value)
        return value


class Number(Kind):
    """A finite number (an integer is one too)."""

    def __init__(self, minimum: float | None = None, maximum: float | None = None) -> None:
        self.minimum, self.maximum = minimum, maximum
        bounds = _bounds(minimum, maximum)
        self.what, self.hint = f"a number{bounds}", f"number{bounds}"

    def check(self, value: Any) -> Any:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.wrong(value)
        try:
            number = float(value)
        except OverflowError:  # an integer too large for a float
            raise self.wrong(value) from None
        if not math.isfinite(number):
            raise self.wrong(value)
        _within(self, number)
        return number


class Boolean(Kind):
    what, hint = "true or false", "true|false"

    def check(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise self.wrong(value)
        return value


class OneOf(Kind):
    def __init__(self, *choices: str) -> None:
        self.choices = frozenset(choices)
        listed = ", ".join(f'"{c}"' for c in choices)
        self.what, self.hint = f"one of {listed}", " | ".join(f'"{c}"' for c in choices)

    def check(self, value: Any) -> Any:
        if not isinstance(value, str) or value not in self.choices:
            raise self.wrong(value)
        return value


class ListOf(Kind):
    def __init__(self, item: Kind) -> None:
        self.item = item
        self.what, self.hint = f"a list of {item.hint}", f"[{item.hint}, ...]"

    def check(self, value: Any) -> Any:
        if not isinstance(value, list):
            raise self.wrong(value)
        check = self.item.check
        try:
            return [check(item) for item in value]
        except Invalid:
            # Which item, found only now: lists can be long, and this keeps indexes off the fast path.
            for index, item in enumerate(value):
                _at(index, self.item, item)
            raise


class MapOf(Kind):
    """A JSON object whose values are all of one kind (keys are strings in JSON)."""

    def __init__(self, value: Kind) -> None:
        self.value = value
        self.what, self.hint = f"an object of {value.hint}", f"{{string: {value.hint}}}"

    def check(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise self.wrong(value)
        return {key: _at(key, self.value, item) for key, item in value.items()}


class Pair(Kind):
    """A JSON array of exactly two values, e.g. `[path, data]`."""

    def __init__(self, first: Kind, second: Kind, *, hint: str = "") -> None:
        self.first, self.second = first, second
        self.hint = hint or f"[{first.hint}, {second.hint}]"
        self.what = f"a list of two: {self.hint}"

    def check(self, value: Any) -> Any:
        if not isinstance(value, list) or len(value) != 2:
            raise self.wrong(value)
        return (_at(0, self.first, value[0]), _at(1, self.second, value[1]))


class OrNull(Kind):
    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.what, self.hint = f"{kind.what} or null", f"{kind.hint} | null"

    def check(self, value: Any) -> Any:
        return None if value is None else self.kind.check(value)


class Custom(Kind):
    """A kind checked by a function that returns the value (normalised) or raises ValueError(reason)."""

    def __init__(self, what: str, hint: str, check: Callable[[Any], Any]) -> None:
        self.what, self.hint, self._check = what, hint, check

    def check(self, value: Any) -> Any:
        try:
            return self._check(value)
        except (ValueError, TypeError) as exc:
            reason = str(exc)
            because = f" ({reason})" if reason else ""
            raise Invalid(f"must be {self.what}{because}, got {shown(value)}") from None


class Field:
    """A field of a JSON object: its kind, and its default when it may be left out."""

    REQUIRED: Any = object()

    def __init__(self, kind: Kind, default: Any = REQUIRED) -> None:
        self.kind = kind
        self.default = default

    @property
    def required(self) -> bool:
        return self.default is Field.REQUIRED


class Object(Kind):
    """A JSON object with named fields; `closed` refuses fields it does not name (a typo is not ignored)."""

    def __init__(self, fields: Mapping[str, Kind | Field], *, closed: bool = True) -> None:
        self.fields = {name: f if isinstance(f, Field) else Field(f) for name, f in fields.items()}
        self.closed = closed
        parts = [
            f'"{name}"{"" if f.required else "?"}: {f.kind.hint}'
            for name, f in self.fields.items()
            if closed or f.required
        ]
        self.hint = "{" + ", ".join(parts) + ("" if closed else ", ...") + "}"
        self.what = f"an object {self.hint}"

    def check(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise self.wrong(value)
        checked: dict[str, Any] = {}
        given = 0
        for name, field in self.fields.items():
            if name in value:
                checked[name] = _at(name, field.kind, value[name])
                given += 1
            elif field.required:
                raise Invalid("is missing", (name,))
            else:
                checked[name] = field.default
        if self.closed and given < len(value):
            unknown = next(k for k in value if k not in self.fields)
            known = ", ".join(f"`{n}`" for n in self.fields) or "none"
            raise Invalid(f"is not a field of this route (its fields: {known})", (unknown,))
        return checked


def _at(key: str | int, kind: Kind, value: Any) -> Any:
    try:
        return kind.check(value)
    except Invalid as exc:
        raise Invalid(exc.problem, (key, *exc.at)) from None


def _bounds(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum:g} to {maximum:g}"
    if minimum is not None:
        return f" >= {minimum:g}"
    if maximum is not None:
        return f" <= {maximum:g}"
    return ""


def _within(kind: Integer | Number, value: float) -> None:
    if (kind.minimum is not None and value < kind.minimum) or (
        kind.maximum is not None and value > kind.maximum
    ):
        raise kind.wrong(value)


# -- requests ------------------------------------------------------------------------------------------


def route_of(request: Request) -> str:
    """`METHOD /route/{param}`: the route as declared, so a message never echoes a bad path back raw."""
    router = request.scope.get("router")
    for route in getattr(router, "routes", ()):
        match, _ = route.matches(request.scope)
        if match is Match.FULL:
            return f"{request.method} {route.path}"
    return f"{request.method} {request.url.path}"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# Made once: json.loads with an option builds a decoder per call (half of a small body's cost).
_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def parse_json(raw: bytes) -> Any:
    """JSON text → value; ValueError says why it is not JSON (NaN and Infinity are not)."""
    try:
        return _DECODER.decode(raw.decode())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except UnicodeDecodeError:
        raise ValueError("it is not UTF-8 text") from None
    except RecursionError:
        raise ValueError("it nests too deeply") from None


class Body:
    """The JSON object a route takes as its body."""

    def __init__(self, fields: Mapping[str, Kind | Field], *, closed: bool = True, fix: str = "") -> None:
        self.shape = Object(fields, closed=closed)
        self.fix = fix or f"send {self.shape.hint}"

    def parse(self, raw: bytes, where: str) -> dict[str, Any]:
        """The checked fields (defaults filled in) of the JSON object `raw`, else BadInput."""
        try:
            return self._checked(raw)
        except Invalid as exc:
            raise BadInput(f"{where}: {exc.problem}; {self.fix}") from None

    async def read(self, request: Request) -> dict[str, Any]:
        """The request's body, checked. The route is named only in a refusal (finding it costs)."""
        try:
            return self._checked(await request.body())
        except Invalid as exc:
            raise BadInput(f"{route_of(request)}: {exc.problem}; {self.fix}") from None

    def _checked(self, raw: bytes) -> dict[str, Any]:
        try:
            value = parse_json(raw)
        except ValueError as exc:
            raise Invalid(f"the body is not JSON ({exc})") from None
        if not isinstance(value, dict):
            raise Invalid(f"the body must be a JSON object, got {shown(value)}")
        try:
            checked: dict[str, Any] = self.shape.check(value)
        except Invalid as exc:
            raise Invalid(f"field `{field_name(exc.at)}` {exc.problem}") from None
        return checked

    def refuse(self, request: Request, field: str, problem: str) -> BadInput:
        """A check the shape cannot make (one field against another), worded like the others."""
        return BadInput(f"{route_of(request)}: field `{field}` {problem}; {self.fix}")


# -- query parameters (always strings) -----------------------------------------------------------------

# Plain decimal only: int() and float() would also take "1_000", " 12", "١٢", "nan" and "inf".
_INTEGER = re.compile(r"-?[0-9]+")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")


class QueryInt(Integer):
    def check(self, value: Any) -> Any:
        if not isinstance(value, str) or _INTEGER.fullmatch(value) is None:
            raise self.wrong(value)
        try:
            return super().check(int(value))
        except (ValueError, Invalid):  # out of range, or more digits than Python converts
            raise self.wrong(value) from None


class QueryNumber(Number):
    def check(self, value: Any) -> Any:
        if not isinstance(value, str) or _NUMBER.fullmatch(value) is None:
            raise self.wrong(value)
        try:
            return super().check(float(value))  # too large → inf → refused as not finite
        except Invalid:
            raise self.wrong(value) from None


class Query:
    """The query parameters a route reads (others are ignored, as a URL may carry any)."""

    def __init__(self, params: Mapping[str, Field]) -> None:
        self.params = dict(params)
        self.fix = "e.g. ?" + "&".join(f"{name}=<{p.kind.hint}>" for name, p in self.params.items())

    def read(self, request: Request) -> dict[str, Any]:
        given = request.query_params
        checked: dict[str, Any] = {}
        for name, param in self.params.items():
            if name not in given:
                if param.required:
                    raise BadInput(f"{route_of(request)}: query parameter `{name}` is missing; {self.fix}")
                checked[name] = param.default
                continue
            try:
                checked[name] = param.kind.check(given[name])
            except Invalid as exc:
                raise BadInput(
                    f"{route_of(request)}: query parameter `{name}` {exc.problem}; {self.fix}"
                ) from None
        return checked


# -- kinds every service uses --------------------------------------------------------------------------

STRING = Text()
NAME = Text("a non-empty string", empty=False)
ANY = AnyJson()
BOOLEAN = Boolean()
PORT = Integer(minimum=0, maximum=65535)
# A key of a node's own store (`/kv/{key}`): any text but control characters.
STORE_KEY = Text("a store key", pattern=r"[^\x00-\x1f\x7f]+", example="notes/today", empty=False)
# A content id as hoarder names blobs: CIDv0 (`Qm…`, base58btc) or CIDv1 in base32 (`b…`) or base58btc (`z…`).
CID = Text(
    "a CID",
    pattern=r"Qm[1-9A-HJ-NP-Za-km-z]{44}|b[a-z2-7]{8,200}|z[1-9A-HJ-NP-Za-km-z]{8,200}",
    example="bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
    empty=False,
)
# A project or resource id (upstream's CIDs, or the shorter `Qm…`-like ids of fixtures): one path segment,
# as `dream.tcc.ids` accepts them.
PROJECT_ID = Text(
    "a project id", pattern=r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", example="QmYwAPJzv5CZsnA…", empty=False
)


def _repo_id(value: Any) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else value
    if isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 20:
        return text
    raise ValueError("")


# A GitHub repository id: a number (auth keeps it as a string of digits).
REPO_ID = Custom(
    'a repository id (a number, or a string of digits, e.g. "123456789")',
    '"123456789"',
    _repo_id,
)
HOOK_ID = Text("a hook id", pattern=r"[0-9]{1,20}", example="123456789", empty=False)
JOB_ID = Text("a job id", pattern=r"job-[0-9a-f]{24}", example="job-0123456789abcdef01234567", empty=False)
COMMIT = Text(
    "a git commit id (40 or 64 hex digits)", pattern=r"[0-9a-f]{40}|[0-9a-f]{64}", hint='"<sha>"', empty=False
)
FQDN = Text(
    "a domain name",
    pattern=r"(?=.{1,253}\.?$)([A-Za-z0-9_*]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*"
    r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?",
    example="hal.computers.com",
    empty=False,
)
