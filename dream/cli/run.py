"""`dream run function PATH|WASM`: run one function once, with no universe.

A function folder is built by monkey's builders (`dream.builders`, the same sandboxed build and cache a
push uses); a `.wasm` or `.zwasm` is taken as it is. The module is loaded and called by the substrate's
wasm host (`dream.wasm`) with one HTTP request made from the flags and the function's own config, like
upstream's `tau run function`.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from dream.cli import output
from dream.cli.common import JsonOpt
from dream.cli.function_spec import NO_DOMAIN, FunctionSpec, read_spec
from dream.errors import DreamError
from dream.settings import cache_home

if TYPE_CHECKING:
    from dream.wasm.host import FunctionModule

# What a call gets when neither the function's config nor a flag says: the substrate's defaults.
RUN_TIMEOUT = 10.0
RUN_MEMORY = 64 << 20
RUN_BUILD_TIMEOUT = 600.0  # as monkey's builds
WASM_SUFFIXES = (".wasm", ".zwasm")

app = typer.Typer(help="Run one resource locally, once, without a universe.", no_args_is_help=True)


@dataclass
class RunResult:
    """One local call: the request made, the answer, and what each phase took."""

    function: str
    export: str
    method: str
    host: str
    path: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    memory_used: int | None
    memory_limit: int
    timings: dict[str, float] = field(default_factory=dict)  # build, load, call: seconds
    built: str = ""  # "cached", "built" or "" (a prebuilt module)

    def as_json(self) -> dict[str, Any]:
        try:
            body: dict[str, str] = {"body": self.body.decode("utf-8")}
        except UnicodeDecodeError:
            body = {"body_base64": base64.b64encode(self.body).decode()}
        return {
            "function": self.function,
            "export": self.export,
            "request": {"method": self.method, "host": self.host, "path": self.path},
            "status": self.status,
            "headers": [list(pair) for pair in self.headers],
            **body,
            "memory": {"used": self.memory_used, "limit": self.memory_limit},
            "time": {name: round(seconds, 6) for name, seconds in self.timings.items()},
            "build": self.built or "prebuilt",
        }


def parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise DreamError(
            f"--header {text!r} is not `Name: value` (example: -H 'Content-Type: application/json')"
        )
    return name.strip(), value.strip()


def read_body(text: str | None) -> bytes:
    """`--body` as given, or a file's bytes with `@path` (as upstream's flag)."""
    if text is None:
        return b""
    if text.startswith("@"):
        path = Path(text[1:]).expanduser()
        try:
            return path.read_bytes()
        except OSError as exc:
            raise DreamError(
                f"--body {text}: cannot read {path} ({exc.strerror}); pass an existing file"
            ) from None
    return text.encode()


def build_folder(folder: Path, log: list[str]) -> tuple[bytes, str, float]:
    """(wasm, "built" or "cached", seconds) for a function folder, built as monkey builds it."""
    from dream.builders import build_function

    started = time.monotonic()
    result = build_function(
        folder, cache_dir=cache_home() / "builds", log=log.append, timeout=RUN_BUILD_TIMEOUT
    )
    took = time.monotonic() - started
    if not result.ok or result.wasm is None:
        raise DreamError(f"{folder} failed to build: {result.error}")
    return result.wasm.read_bytes(), "cached" if result.cached else "built", took


def default_export(module: FunctionModule, fallback: str) -> str:
    """The export to call when nothing names one: the module's only Taubyte-shaped export (one i32), else
    one named like the function."""
    shaped = [
        name
        for name, ty in module.exports.items()
        if not name.startswith("_") and [str(p) for p in ty.params] == ["i32"]
    ]
    return shaped[0] if len(shaped) == 1 else fallback


def run_function(
    target: Path,
    *,
    method: str | None = None,
    path: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    domain: str | None = None,
    call: str | None = None,
    timeout: float | None = None,
    memory: int | None = None,
    log: list[str] | None = None,
) -> RunResult:
    """Build (or read) the function at `target`, load it into a wasm host and make one call."""
    from dream.wasm.host import WasmHost
    from dream.wasm.types import HttpRequest

    log = log if log is not None else []
    target = target.expanduser()
    timings: dict[str, float] = {}
    if target.is_dir():
        spec = read_spec(target.resolve())
        wasm, built, timings["build"] = build_folder(target, log)
    elif target.is_file():
        if target.suffix not in WASM_SUFFIXES:
            raise DreamError(
                f"{target} is neither a function folder nor a .wasm/.zwasm module; pass one of those"
            )
        spec = FunctionSpec(name=target.stem)
        wasm, built = target.read_bytes(), ""
    else:
        raise DreamError(f"{target} does not exist; pass a function folder or a .wasm/.zwasm module")
    limit = memory or spec.memory or RUN_MEMORY
    seconds = timeout or spec.timeout or RUN_TIMEOUT
    url_path, _, query = (path or spec.path or "/").partition("?")
    if not url_path.startswith("/"):
        raise DreamError(f"--path {path!r} must start with / (example: --path /ping)")
    host_name = domain or spec.domain or NO_DOMAIN
    verb = (method or spec.method or "GET").upper()
    with WasmHost(capture_output=False) as host:
        started = time.monotonic()
        module = host.load(str(target), wasm, name=f"functions/{spec.name}")
        timings["load"] = time.monotonic() - started
        export = call or spec.call or default_export(module, spec.name)
        request = HttpRequest(
            method=verb,
            host=host_name,
            path=url_path,
            query=[(k, v) for k, _, v in (item.partition("=") for item in query.split("&") if item)],
            headers=[("Host", host_name), *(headers or [])],
            body=body,
        )
        started = time.monotonic()
        response = module.call(export, request, timeout=seconds, memory_limit=limit, measure=True)
        timings["call"] = time.monotonic() - started
    return RunResult(
        function=spec.name,
        export=export,
        method=verb,
        host=host_name,
        path=path or spec.path or "/",
        status=response.status,
        headers=response.headers,
        body=response.body,
        memory_used=response.memory,
        memory_limit=limit,
        timings=timings,
        built=built,
    )


def _size(value: str, flag: str) -> int:
    from dream.tcc.units import parse_size

    try:
        return parse_size(value)
    except DreamError as exc:
        raise DreamError(f"{flag}: {exc}") from None


def _duration(value: str, flag: str) -> float:
    from dream.tcc.units import parse_duration

    try:
        return parse_duration(value) / 1e9
    except DreamError as exc:
        raise DreamError(f"{flag}: {exc}") from None


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


@app.command("function")
def function(
    target: Path = typer.Argument(..., help="Function folder (built as monkey builds it) or a .wasm/.zwasm"),
    method: str = typer.Option(
        None, "--method", "-m", help="HTTP method (default: the function's, else GET)"
    ),
    path: str = typer.Option(None, "--path", help="URL path and query (default: the function's first path)"),
    header: list[str] = typer.Option(
        None, "--header", "-H", help="Request header `Name: value` (repeatable)"
    ),
    body: str = typer.Option(None, "--body", help="Request body: literal text, or @file"),
    domain: str = typer.Option(None, "--domain", help="Host header (default: the function's domain)"),
    call: str = typer.Option(None, "--call", help="Export to call (default: the function's execution.call)"),
    timeout: str = typer.Option(
        None, "--timeout", help="Call timeout, e.g. 5s (default: the function's, else 10s)"
    ),
    memory: str = typer.Option(
        None, "--memory", help="Memory limit, e.g. 32MB (default: the function's, else 64MB)"
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Run one function once with no universe: build it (or take a .wasm/.zwasm), call it, print the answer."""
    from dream.tcc.errors import CompileError

    log: list[str] = []
    try:
        result = run_function(
            target,
            method=method,
            path=path,
            headers=[parse_header(h) for h in header or []],
            body=read_body(body),
            domain=domain,
            call=call,
            timeout=_duration(timeout, "--timeout") if timeout else None,
            memory=_size(memory, "--memory") if memory else None,
            log=log,
        )
    except CompileError as exc:
        raise DreamError(f"the function's config has problems:\n{exc}") from None
    if as_json:
        output.dump_json(result.as_json())
        return
    out = output.console
    out.print(f"HTTP {result.status}", markup=False)
    for name, value in result.headers:
        out.print(f"{name}: {value}", markup=False, soft_wrap=True)
    out.print("")
    out.file.write(result.body.decode("utf-8", "replace"))
    if result.body and not result.body.endswith(b"\n"):
        out.file.write("\n")
    out.file.flush()
    times = [f"{name} {_ms(seconds)}" for name, seconds in result.timings.items()]
    if result.built:
        times[0] += f" ({result.built})"
    from dream.wasm.errors import format_bytes

    used = format_bytes(result.memory_used) if result.memory_used is not None else "unknown"
    output.errors.print(
        f"{result.method} {result.host}{result.path} → functions/{result.function} (export `{result.export}`): "
        f"{', '.join(times)}; memory {used} of {format_bytes(result.memory_limit)}",
        markup=False,
        soft_wrap=True,
        highlight=False,
    )
