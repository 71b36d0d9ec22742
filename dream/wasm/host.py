"""Run Taubyte HTTP functions (wasm modules) on wasmtime: load once, then one fresh instance per call.

One `WasmHost` per process owns the `wasmtime.Engine` (epoch interruption on), a ticker thread that
advances the epoch every 10 ms while any call is running (timeouts), and the on-disk compiled-module
cache. `load` returns a `FunctionModule` holding a pre-linked `InstancePre`; `FunctionModule.call`
creates a Store + instance per request (15-25 us for small modules), so requests are isolated and
event id 0 is valid for each. Calls may run concurrently on worker threads: wasmtime releases the GIL
while wasm runs. How a call and its host functions reach wasmtime is the host's `call_path`
(`callpath`: raw C calls, object API or plain wasmtime-py), chosen when the first host of the process
starts (`selftest`).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import wasmtime

from dream.wasm import (
    abi,
    crypto,
    database,
    dns,
    fastcall,
    hostcall,
    httpclient,
    i2mv,
    interrupt,
    p2p,
    pubsub,
    retired,
    selftest,
    wasi_poll,
)
from dream.wasm import content as contents
from dream.wasm import globals as global_values
from dream.wasm import self as self_values
from dream.wasm import storage as storages
from dream.wasm.artifact import holds_wasm, is_zip, wasm_from_artifact
from dream.wasm.baseline import BaselineRuntime, compiler_setting, wants_baseline
from dream.wasm.cache import ModuleCache, default_directory
from dream.wasm.callpath import CallFailed, CallPath, NativePath, Run, Serve, Served
from dream.wasm.database import DataScope
from dream.wasm.engine import TICK_SECONDS, EpochTicker, make_engine
from dream.wasm.errors import (
    WasmCancelled,
    WasmError,
    WasmLoadError,
    WasmMemoryLimit,
    WasmNeedsWorker,
    WasmTimeout,
    WasmTrap,
    format_bytes,
    format_seconds,
)
from dream.wasm.event import (
    P2P_EVENT_TYPE,
    PUBSUB_EVENT_TYPE,
    HttpEvent,
    P2PCommand,
    Trigger,
    header_problems,
    odd_header,
)
from dream.wasm.scope import FunctionScope
from dream.wasm.types import HttpRequest, HttpResponse

log = logging.getLogger("dream.wasm")

WASM_MAGIC = b"\0asm"
PAGE = 65536
_SHM = Path("/dev/shm")

# Host functions that reach the function's data (databases, globals, storages): calls get its `DataScope`.
DATA_IMPORTS = database.IMPLEMENTED | global_values.IMPLEMENTED | storages.IMPLEMENTED | contents.IMPLEMENTED
# The event families: their calls get the function's `FunctionScope` (self, publishing, ...).
EVENT_IMPORTS = (
    self_values.IMPLEMENTED
    | crypto.IMPLEMENTED
    | httpclient.IMPLEMENTED
    | pubsub.IMPLEMENTED
    | p2p.IMPLEMENTED
)
# Host functions that wait on the network: a module importing one never runs inline.
EVENT_BLOCKING = httpclient.BLOCKING | pubsub.BLOCKING | p2p.BLOCKING | dns.BLOCKING

_UNKNOWN_IMPORT = re.compile(r"unknown import: `([^`]*)::([^`]*)` has not been defined")
_TRAP_TEXT = {
    wasmtime.TrapCode.UNREACHABLE: "wasm `unreachable` instruction executed",
    wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS: "out-of-bounds memory access",
    wasmtime.TrapCode.STACK_OVERFLOW: "call stack exhausted (runaway recursion?)",
    wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO: "integer division by zero",
    wasmtime.TrapCode.INTEGER_OVERFLOW: "integer overflow",
    wasmtime.TrapCode.BAD_CONVERSION_TO_INTEGER: "invalid float-to-integer conversion",
    wasmtime.TrapCode.INDIRECT_CALL_TO_NULL: "indirect call to a null table entry",
    wasmtime.TrapCode.BAD_SIGNATURE: "indirect call with the wrong signature",
    wasmtime.TrapCode.TABLE_OUT_OF_BOUNDS: "out-of-bounds table access",
    wasmtime.TrapCode.HEAP_MISALIGNED: "misaligned atomic memory access",
}


class WasmHost:
    """The per-process wasm runtime of the substrate. Use as a context manager or call `stop()`."""

    def __init__(
        self, cache_dir: Path | None = None, *, capture_output: bool = False, pooling: bool = True
    ) -> None:
        compiler_setting()  # a wrong DREAM_WASM_COMPILER stops the host at its start, not at a load
        self.engine, settings, self.pooled = make_engine(pooling=pooling)
        # How calls are made (raw C calls, object API, plain wasmtime-py): chosen by a self-test once
        # per process, or forced by DREAM_WASM_CALL (a forced path that fails raises CallPathError).
        self.call_path: CallPath = selftest.choose(self.engine)
        self.cache = ModuleCache(
            self.engine, Path(cache_dir) if cache_dir is not None else default_directory(), settings
        )
        # Guest stdout/stderr go to tmpfs files and the guest logger; off by default (it costs ~40 us).
        self.capture_output = capture_output
        self.ticker = EpochTicker(self.engine)
        self._baseline: BaselineRuntime | None = None  # made when a baseline-compiled build is loaded

    # -- lifecycle -------------------------------------------------------------------------------------

    def stop(self) -> None:
        """End the ticker thread. Calls made after this are refused (nothing could time them out)."""
        self.ticker.stop()
        if self._baseline is not None:
            self._baseline.stop()

    def baseline(self) -> BaselineRuntime:
        """The engine for builds compiled by the baseline compiler (`dream.wasm.baseline`)."""
        if self._baseline is None:
            self._baseline = BaselineRuntime(self.cache.directory, self.cache.settings, pooling=self.pooled)
        return self._baseline

    @property
    def stopped(self) -> bool:
        return self.ticker.stopped

    def __enter__(self) -> WasmHost:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- loading ---------------------------------------------------------------------------------------

    def load(self, key: str, wasm: bytes, *, name: str, baseline: bool = False) -> FunctionModule:
        """Compile (or load from the AOT cache) and pre-link a module.

        `key` identifies the build (e.g. its CID) in messages; the cache itself is keyed by the content.
        `name` is the module name (`functions/ping`, `libraries/x`), used as WASI argv[0] and in errors.
        A `.zwasm` zip is unpacked first. `baseline`: compile with the baseline compiler.
        """
        if is_zip(wasm):
            return self.load(key, wasm_from_artifact(wasm, name=name), name=name, baseline=baseline)
        if wasm[:4] != WASM_MAGIC:
            raise WasmLoadError(
                f"{name} ({key}) is not a WebAssembly module (it does not start with \\0asm); "
                "upload the built main.wasm or its .zwasm artefact",
                "not a wasm module",
            )
        runtime = self.baseline() if wants_baseline(baseline) else None
        try:
            module, cache_path = (runtime or self).cache.module(wasm)
        except wasmtime.WasmtimeError as exc:
            detail = _caused_by(str(exc))
            raise WasmLoadError(
                f"{name} ({key}) is malformed wasm and cannot be compiled: {detail}; rebuild the function",
                f"malformed wasm: {detail}",
            ) from None
        return FunctionModule(self, key=key, name=name, module=module, cache_path=cache_path, runtime=runtime)

    def load_cid(self, cid: str, *, name: str) -> FunctionModule | None:
        """The module of the build stored as `cid`, from its compiled form on this machine (no download
        needed: monkey compiles every build it publishes), or None when there is none."""
        runtime = None
        found = self.cache.get(cid)
        if found is None and self.cache.has_baseline(cid):
            runtime = self.baseline()
            found = runtime.cache.get(cid)
        if found is None:
            return None
        module, cache_path = found
        return FunctionModule(self, key=cid, name=name, module=module, cache_path=cache_path, runtime=runtime)

    @staticmethod
    def looks_loadable(data: bytes) -> bool:
        """Whether `data` is a wasm module or a build artefact holding one (not, say, a website)."""
        return data[:4] == WASM_MAGIC or (is_zip(data) and holds_wasm(data))

    def load_artifact(self, key: str, data: bytes, *, name: str) -> FunctionModule:
        """Like `load`, for a `.zwasm` build artefact (zip holding main.wasm or artifact.wasm)."""
        return self.load(key, wasm_from_artifact(data, name=name), name=name)

    def _linker(self, engine: wasmtime.Engine) -> wasmtime.Linker:
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        wasi_poll.define(linker, self.call_path.define)  # WASI's own would sleep past a call's timeout
        abi.define(linker, self.call_path.define)
        database.define(linker, self.call_path.define)
        global_values.define(linker, self.call_path.define)
        storages.define(linker, self.call_path.define)
        contents.define(linker, self.call_path.define)
        self_values.define(linker, self.call_path.define)
        crypto.define(linker, self.call_path.define)
        httpclient.define(linker, self.call_path.define)
        pubsub.define(linker, self.call_path.define)
        p2p.define(linker, self.call_path.define)
        dns.define(linker, self.call_path.define)
        i2mv.define(linker, self.call_path.define)
        return linker


class FunctionModule:
    """A loaded, pre-linked module. `call` is thread-safe: every call gets its own Store and instance."""

    def __init__(
        self,
        host: WasmHost,
        *,
        key: str,
        name: str,
        module: wasmtime.Module,
        cache_path: Path,
        runtime: BaselineRuntime | None = None,
    ) -> None:
        self.host = host
        self.engine = (runtime or host).engine  # the engine that compiled it, and the ticker of that engine
        self.ticker = (runtime or host).ticker
        self.baseline = runtime is not None
        self.key = key
        self.name = name
        self.short_name = name.rsplit("/", 1)[-1]
        self.cache_path = cache_path
        self.unsupported_imports: list[str] = []
        self.uses_wasi = False
        # Imports through which a guest can wait (sleep, poll): such a module never runs inline on a
        # server's event loop, where a wait would stall every other request.
        self.may_block = False
        # Whether it imports a data family (databases, globals, storages): its calls get its `DataScope`.
        self.uses_data = False
        self._imports: set[tuple[str, str]] = set()  # (module, name) of each import
        self._check_imports(module)
        self.exports: dict[str, wasmtime.FuncType] = {}
        for exp in module.exports:
            if isinstance(exp.type, wasmtime.FuncType):
                self.exports[exp.name] = exp.type
        self._sigs: dict[str, fastcall.Signature] = {}
        init = next((n for n in ("_initialize", "_start") if n in self.exports), None)
        self._path = path = host.call_path
        self._plans: dict[str, Run] = {}  # export → how its calls run on the host's path
        linker = host._linker(self.engine)
        try:
            linker.define_unknown_imports_as_traps(module)
            self._linked = path.link(
                self.engine, linker.instantiate_pre(module), init, self.exports.get(init or "")
            )
        except wasmtime.WasmtimeError as exc:
            detail = _caused_by(str(exc))
            raise WasmLoadError(
                f"{name} cannot be linked: {detail}; its imports must match the taubyte/sdk ABI",
                f"unresolvable import: {detail}",
            ) from None

    def rename(self, name: str) -> None:
        """Name a module loaded before its function was known (WASI argv[0], messages)."""
        self.name = name
        self.short_name = name.rsplit("/", 1)[-1]

    def _check_imports(self, module: wasmtime.Module) -> None:
        foreign: list[str] = []
        left_out: list[str] = []
        for imp in module.imports:
            where = f"{imp.module}.{imp.name}"
            self._imports.add((imp.module, imp.name or ""))
            if (imp.module, imp.name) in abi.BLOCKING or (imp.module, imp.name) in EVENT_BLOCKING:
                self.may_block = True
            if retired.family(imp.module, imp.name or ""):
                left_out.append(imp.name or "")
            if (imp.module, imp.name) in DATA_IMPORTS:
                # Its calls get the function's data; one that must wait on an event loop is rerun
                # on a worker (WasmNeedsWorker), so it may run inline while it reads what is here.
                self.uses_data = True
            if imp.module not in abi.HOST_MODULES:
                foreign.append(imp.module)
            elif not isinstance(imp.type, wasmtime.FuncType):
                raise WasmLoadError(
                    f"{self.name} imports `{where}`, which is not a function; the host provides only functions "
                    "(export the module's own memory instead of importing one)",
                    f"unresolvable import {where}",
                )
            elif imp.module == abi.WASI:
                self.uses_wasi = True
            elif (imp.module, imp.name) not in abi.IMPLEMENTED | DATA_IMPORTS | EVENT_IMPORTS:
                self.unsupported_imports.append(where)
        if left_out:
            raise WasmLoadError(retired.message(self.name, left_out), "imports a family tau leaves out")
        if foreign:
            mods = ", ".join(f"`{m}`" for m in dict.fromkeys(foreign))
            raise WasmLoadError(
                f"{self.name} imports from module {mods}, which dream cannot provide yet (library dependencies "
                "are not supported); only taubyte/sdk, env and wasi_snapshot_preview1 are available",
                f"missing import module {mods}",
            )
        if self.unsupported_imports:
            log.info(
                "%s imports host functions dream does not implement yet (they trap if called): %s",
                self.name,
                ", ".join(self.unsupported_imports),
            )

    def _signature(self, export: str) -> fastcall.Signature:
        sig = self._sigs.get(export)
        if sig is not None:
            return sig
        ty = self.exports.get(export)
        if ty is None:
            names = ", ".join(n for n in self.exports if not n.startswith("_")) or "none"
            raise WasmLoadError(
                f"{self.name} has no exported function `{export}` (it exports: {names}); "
                "check `execution.call` in the function's config",
                f"missing export `{export}`",
            )
        if [str(p) for p in ty.params] != ["i32"]:
            raise WasmLoadError(
                f"export `{export}` of {self.name} takes ({', '.join(str(p) for p in ty.params)}) but a Taubyte "
                "function must take exactly one i32 (the event id)",
                f"export `{export}` has the wrong signature",
            )
        sig = self._sigs[export] = self._path.signature(ty, export.encode())
        return sig

    # -- calling ---------------------------------------------------------------------------------------

    def call(
        self,
        export: str,
        request: HttpRequest,
        *,
        timeout: float,
        memory_limit: int,
        control: interrupt.CallControl | None = None,
        data: DataScope | None = None,
        scope: FunctionScope | None = None,
        message: Trigger | None = None,
        measure: bool = False,
        label: str = "",
    ) -> HttpResponse:
        """Instantiate, initialise (`_initialize`, else `_start`), call `export(0)` and return the response.

        Without `control` the call may run `timeout` seconds, counted in epoch ticks (for short calls);
        with it, until `control.deadline` by the clock, and `control.cancel()` stops it (`interrupt`):
        `timeout` then only names the limit in messages. `data` is what the function's database host
        calls reach (`dream.wasm.database`); without it they fail with their errno. `scope` is what
        the event families reach (`dream.wasm.scope`); `message` makes the event a pub-sub one, with
        that (channel, data), or a p2p one (a `P2PCommand`, whose `response` the handler fills).
        With `measure`, the response tells how much linear memory the guest ended with (its peak: wasm
        memory only grows). `label` names the function in its log lines (default: the module's name,
        which is the first function loaded of a build several functions share).
        Raises WasmTimeout, WasmMemoryLimit, WasmTrap (guest failed), WasmCancelled or WasmLoadError;
        WasmNeedsWorker when a data host call could not wait here (rerun it on a worker thread).
        """
        run = self._plans.get(export)
        if run is None:
            run = self._plans[export] = self._path.plan(self._linked, self._signature(export))
        host = self.host
        if host.stopped:
            raise WasmError(f"cannot call {self.name}: the wasm host has been stopped", "host stopped")
        label = label or self.name
        output = _GuestOutput() if self.uses_wasi and host.capture_output else None
        wasi: wasmtime.WasiConfig | None = None
        if self.uses_wasi:
            wasi = wasmtime.WasiConfig()
            wasi.argv = [self.name]  # TinyGo command modules trap in _start when argv is empty
            if output is not None:
                wasi.stdout_file = str(output.stdout)
                wasi.stderr_file = str(output.stderr)
        if control is None:
            event = HttpEvent(
                request, deadline=time.monotonic() + timeout, label=label, data=data, scope=scope
            )
            ticks = math.ceil(timeout / TICK_SECONDS) + 1
        else:
            event = HttpEvent(request, deadline=control.deadline, label=label, data=data, scope=scope)
            ticks = control.first_ticks()
        if message is not None:
            event.kind = P2P_EVENT_TYPE if isinstance(message, P2PCommand) else PUBSUB_EVENT_TYPE
            event.message = message
        event.measure = measure
        abi.bind(event)
        if hostcall.counting():
            event.host_calls = hostcall.tally_begin()  # also what tells the call path to measure
        if self.may_block:
            interrupt.begin(event.deadline, control)  # its waits end at the deadline, or on a cancel
        self.ticker.enter()
        try:
            run(memory_limit, ticks, wasi, event, control)
            if event.needs_worker:
                raise WasmNeedsWorker(
                    f"{self._label(export)} had to wait for its data on the event loop", "needs a worker"
                )
            # A guest whose wait in a host function ended at its deadline (or on a cancel) may return
            # without running another epoch check: it is as late (or as gone) as one that was stopped.
            if control is not None and (control.cancelled or control.remaining() <= 0):
                control.stopped = interrupt.CANCELLED if control.cancelled else interrupt.TIMEOUT
                raise CallFailed(
                    wasmtime.WasmtimeError("stopped after its deadline"), instantiated=True, used=None
                )
        except CallFailed as exc:
            if event.needs_worker:  # it failed after a data host call could not wait: not its fault
                raise WasmNeedsWorker(
                    f"{self._label(export)} had to wait for its data on the event loop", "needs a worker"
                ) from None
            if control is not None and control.stopped == interrupt.CANCELLED:
                raise WasmCancelled(
                    f"{self._label(export)} was stopped: its client went away", "client went away"
                ) from None
            if control is not None and control.stopped == interrupt.TIMEOUT:
                raise self._timeout(export, timeout) from None
            stderr = output.stderr_tail() if output is not None else ""
            raise self._failure(
                exc.error, export, timeout, memory_limit, exc.instantiated, exc.used, stderr
            ) from None
        finally:
            self.ticker.exit()
            abi.bind(None)
            if event.handles:
                storages.release(event.handles)  # files a storage call left open
                contents.release(event.handles)
            if event.closers:
                httpclient.close_all(event)
            if self.may_block:
                interrupt.end()
            if output is not None:
                output.finish(label)
        return event.response()

    def server(self, export: str, label: str = "") -> Serve | None:
        """How `serve` answers an HTTP request with `export` in one C call, or None when its calls need
        `call`: on the native path, for a module with no WASI and no import but the HTTP event host calls
        done in C (what they read and write never needs an HttpEvent), and a valid export. `label` names
        the function in its log lines, as `call`'s."""
        native = self._path.native_host_calls
        if self.uses_wasi or self.may_block or self.uses_data or self.unsupported_imports:
            return None
        if any(module != hostcall.SDK or name not in native for module, name in self._imports):
            return None
        try:
            sig = self._signature(export)
        except WasmLoadError:
            return None  # `call` raises it with its message
        return self._path.plan_serve(self._linked, sig, functools.partial(odd_header, label or self.name))

    def serve(
        self,
        serve: Serve,
        export: str,
        method: bytes,
        host: bytes,
        path: bytes,
        *,
        timeout: float,
        memory_limit: int,
        label: str = "",
    ) -> tuple[Served, Any]:
        """`call` for an HTTP request through `server(export)`'s plan, without its HttpEvent: the
        answer as the HTTP server writes it and the host calls made (None when nothing counts them; the
        native ring of records when it takes them, `hostcall.count_calls`).
        The same fresh store and instance, memory limit and epoch deadline as `call`; raises what it
        raises (WasmTimeout, WasmMemoryLimit, WasmTrap)."""
        if self.host.ticker.halted:  # `host.stopped`, without its two property calls
            raise WasmError(f"cannot call {self.name}: the wasm host has been stopped", "host stopped")
        counts = hostcall.serve_counts()  # a dict, the inspector's native ring, or None
        self.ticker.enter()
        try:
            served = serve(memory_limit, math.ceil(timeout / TICK_SECONDS) + 1, method, host, path, counts)
            if len(served) == 4:  # it failed: (what, error or trap, instantiated, memory used)
                assert isinstance(self._path, NativePath)  # the only path that plans a `Serve`
                self._path.raise_failed(served, self._linked.init_name, export.encode())
        except CallFailed as exc:
            raise self._failure(
                exc.error, export, timeout, memory_limit, exc.instantiated, exc.used, ""
            ) from None
        finally:
            self.ticker.exit()
        if served[6] > 1:
            header_problems(label or self.name, served[6])
        return served, counts

    def _label(self, export: str) -> str:
        label = f"function `{self.short_name}`"
        if export != self.short_name:
            label += f" (export `{export}` of {self.name})"
        return label

    def _timeout(self, export: str, timeout: float) -> WasmTimeout:
        t = format_seconds(timeout)
        return WasmTimeout(
            f"{self._label(export)} timed out after {t}; make it return sooner or raise `execution.timeout`",
            f"timed out after {t}",
        )

    def _failure(
        self,
        exc: wasmtime.Trap | wasmtime.WasmtimeError,
        export: str,
        timeout: float,
        memory_limit: int,
        instantiated: bool,
        used: int | None,
        stderr: str,
    ) -> WasmError:
        label = self._label(export)
        limit = format_bytes(memory_limit)
        if isinstance(exc, wasmtime.Trap) and exc.trap_code == wasmtime.TrapCode.INTERRUPT:
            return self._timeout(export, timeout)
        text = str(exc)
        if not instantiated and "exceeds memory limits" in text:
            return WasmMemoryLimit(
                f"{label} exceeded its memory limit of {limit}: the module needs more than that just to start "
                f"({_caused_by(text)}); raise `execution.memory`",
                f"exceeded its memory limit of {limit}",
            )
        describe = _describe(exc)
        tail = f"; its stderr ended with: {stderr}" if stderr else ""
        # wasm's memory.grow returns -1 at the cap and the guest then traps or exits on its own, so a
        # failure with memory (nearly) at the cap is reported as the cap being hit.
        if used is not None and used + max(PAGE, min(memory_limit // 4, 4 * 1024 * 1024)) > memory_limit:
            return WasmMemoryLimit(
                f"{label} exceeded its memory limit of {limit} (it failed with: {describe}, "
                f"using {format_bytes(used)}){tail}; raise `execution.memory` or use less memory",
                f"exceeded its memory limit of {limit}",
            )
        return WasmTrap(f"{label} trapped: {describe}{tail}", describe)


def _caused_by(text: str) -> str:
    """The root cause line of a wasmtime error message (drops backtraces and 'Caused by:' framing)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if "Caused by:" in lines:
        lines = lines[lines.index("Caused by:") + 1 :]
    cause = lines[-1] if lines else text.strip()
    return cause.removeprefix("wasm trap: ")


def _describe(exc: wasmtime.Trap | wasmtime.WasmtimeError) -> str:
    if isinstance(exc, wasmtime.ExitTrap):
        return f"the module exited with code {exc.code}"
    if isinstance(exc, wasmtime.Trap):
        code = exc.trap_code
        if code in _TRAP_TEXT:
            return _TRAP_TEXT[code]
    text = str(exc)
    m = _UNKNOWN_IMPORT.search(text)
    if m:
        return f"host function {m.group(1)}.{m.group(2)} is not supported by dream yet"
    return _caused_by(text)


class _GuestOutput:
    """Guest stdout/stderr captured in tmpfs files (a Python callback per write costs ~230 us per run)."""

    def __init__(self) -> None:
        where = _SHM if _SHM.is_dir() else Path(tempfile.gettempdir())
        fd_out, out = tempfile.mkstemp(prefix="dream-wasm-", suffix=".out", dir=where)
        fd_err, err = tempfile.mkstemp(prefix="dream-wasm-", suffix=".err", dir=where)
        os.close(fd_out)
        os.close(fd_err)
        self.stdout, self.stderr = Path(out), Path(err)

    def stderr_tail(self, limit: int = 300) -> str:
        try:
            text = self.stderr.read_bytes()[-limit:].decode(errors="replace")
        except OSError:
            return ""
        return " | ".join(ln for ln in text.splitlines() if ln.strip())

    def finish(self, name: str) -> None:
        for stream, path in (("stdout", self.stdout), ("stderr", self.stderr)):
            try:
                data = path.read_bytes()
                path.unlink()
            except OSError:
                continue
            for line in data.decode(errors="replace").splitlines():
                abi.guest_log.info("%s [%s]: %s", name, stream, line)
