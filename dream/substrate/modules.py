"""Functions' builds loaded into the wasm runtime, by CID: each read and compiled once, by whichever asks
first, and kept (a CID names its content: a loaded module is never stale)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

from dream.substrate.assets import Assets

if TYPE_CHECKING:
    from dream.wasm.host import FunctionModule, WasmHost


class Modules:
    def __init__(self, host: WasmHost, assets: Assets) -> None:
        self.host = host
        self.assets = assets
        self.loaded: dict[str, FunctionModule] = {}
        self.loading: dict[str, asyncio.Future[FunctionModule]] = {}  # cid → being read and compiled
        self.unnamed: set[str] = set()  # loaded ahead of a request, named by their first function

    def known(self, cid: str) -> bool:
        """Loaded, or being loaded."""
        return cid in self.loaded or cid in self.loading

    def compiled(self, cid: str) -> bool:
        """Compiled on this machine already (monkey compiles every build it publishes)."""
        return self.host.cache.has(cid)

    def loadable(self, payload: bytes) -> bool:
        """Whether a build's bytes are a function's (a website's are not)."""
        return self.host.looks_loadable(payload)

    async def ahead(self, cid: str, name: str, payload: bytes | None) -> None:
        """Load a build before its function is asked for (named after its first function then)."""
        self.unnamed.add(cid)
        await self.get(cid, name, payload)

    async def named(self, cid: str, name: str) -> FunctionModule:
        """The loaded module of a build, named `name` (`functions/<name>`, `libraries/<id>`)."""
        module = await self.get(cid, name)
        if cid in self.unnamed:  # loaded ahead, before its function was known
            self.unnamed.discard(cid)
            module.rename(name)
        return module

    async def get(self, cid: str, name: str, payload: bytes | None = None) -> FunctionModule:
        """The loaded module of a build (`payload`: its bytes, when the caller already has them)."""
        module = self.loaded.get(cid)
        if module is not None:
            return module
        loading = self.loading.get(cid)
        if loading is None:
            loading = self.loading[cid] = asyncio.ensure_future(self._read(cid, name, payload))
            loading.add_done_callback(lambda _: self.loading.pop(cid, None))
        return await asyncio.shield(loading)

    async def _read(self, cid: str, name: str, payload: bytes | None) -> FunctionModule:
        # Compiled on this machine when it was built: no download, no compile.
        module = await run_in_threadpool(self.host.load_cid, cid, name=name)
        if module is not None:
            self.loaded[cid] = module
            return module
        path = self.assets.path(cid)
        if payload is None and not path.exists():
            payload = await self.assets.download(cid, name)

        def load() -> FunctionModule:  # on a worker thread: reading and compiling must not stall the loop
            return self.host.load(cid, payload if payload is not None else path.read_bytes(), name=name)

        module = await run_in_threadpool(load)
        self.loaded[cid] = module
        return module
