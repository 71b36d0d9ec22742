"""P2P services in the substrate: a function sends a command on a protocol, another function handles it.

A project's `services/<name>.yaml` gives a protocol (`/echo/v1`); a function with `trigger.type: p2p`,
`service: <that service's name>` and `command: <name>` handles that command. `newCommand` needs a service
of the caller's project (or application) with the protocol (else errno 45); `sendCommand` runs the
handler on a substrate copy, taken in turn (`sendCommandTo`: on the one named), and gives back what the
handler wrote with `writeP2PResponse`. No handler for the command: errno 44; a copy that cannot be
reached or a handler that fails: errno 43, with a log line saying why.
"""

from __future__ import annotations

import base64
import itertools
import logging
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from dream.clients.base import ServiceError
from dream.clients.substrate import P2P_COMMAND, SubstrateClient
from dream.errors import DreamError
from dream.http.answers import answer, reply
from dream.node.validate import NAME, STRING, Body, Field, Text
from dream.substrate.pubsub import PubSub, socket_hash
from dream.substrate.routing import Resource
from dream.wasm.errors import WasmError
from dream.wasm.event import P2PCommand
from dream.wasm.interrupt import CallControl
from dream.wasm.p2p import P2P_COMMAND_NOT_FOUND, P2P_PROTOCOL_NOT_FOUND, P2P_SEND_FAILED, node_cid
from dream.wasm.types import HttpRequest

if TYPE_CHECKING:
    from dream.substrate.resolver import Resolver
    from dream.substrate.runner import Runner

_EMPTY = HttpRequest(method="", host="", path="")
_B64 = Text("base64 data", example="aGVsbG8=")
_COMMAND = Body(
    {
        "project": Field(NAME),
        "app": Field(STRING, ""),
        "branch": Field(STRING, ""),
        "protocol": Field(NAME),
        "command": Field(NAME),
        "data": Field(_B64),
        "source": Field(STRING, ""),
    }
)


class HandlerMissing(DreamError):
    """No function of the project handles the command (or no service has the protocol)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _scopes(config: dict[str, Any], app: str) -> list[dict[str, Any]]:
    found = (config.get("applications") or {}).get(app) if app else None
    return ([found] if isinstance(found, dict) else []) + [config]


class P2P:
    """The p2p side of one substrate."""

    def __init__(
        self,
        pubsub: PubSub,
        resolver: Resolver,
        runner: Runner,
        substrates: SubstrateClient,
        me: str,
        log: logging.Logger,
    ) -> None:
        self.pubsub = pubsub  # its tns reads (project configs) and its loop
        self.resolver = resolver
        self.runner = runner
        self.substrates = substrates
        self.me = me
        self.log = log
        self.turn = itertools.count()
        self.handled = 0

    @staticmethod
    def service(config: dict[str, Any], app: str, protocol: str) -> tuple[str, str] | None:
        """(id, name) of the service of the scope with `protocol`."""
        for scope in _scopes(config, app):
            for sid, item in (scope.get("services") or {}).items():
                if isinstance(item, dict) and item.get("protocol") == protocol:
                    return str(sid), str(item.get("name") or sid)
        return None

    @staticmethod
    def handler(
        config: dict[str, Any], app: str, service: tuple[str, str], command: str
    ) -> tuple[str, dict[str, Any]] | None:
        for scope in _scopes(config, app):
            for fid, item in (scope.get("functions") or {}).items():
                if (
                    isinstance(item, dict)
                    and item.get("type") == "p2p"
                    and str(item.get("service")) in service
                    and item.get("command") == command
                ):
                    return str(fid), item
        return None

    async def run(
        self, project: str, app: str, branch: str, protocol: str, command: str, data: bytes, source: str
    ) -> bytes:
        """Run the handler of `command` here: what it wrote back. HandlerMissing, or WasmError/DreamError
        when it fails."""
        found = await self.pubsub.config(project, branch)
        if found is None:
            raise HandlerMissing(f"project `{project}` has no published config", P2P_PROTOCOL_NOT_FOUND)
        branch, commit, config = found
        service = self.service(config, app, protocol)
        if service is None:
            raise HandlerMissing(
                f"no service of project `{project}` has protocol `{protocol}`", P2P_PROTOCOL_NOT_FOUND
            )
        handler = self.handler(config, app, service, command)
        if handler is None:
            raise HandlerMissing(
                f"no function of project `{project}` handles command `{command}` of service `{service[1]}` "
                f"({protocol}): add one with `trigger: {{type: p2p, service: {service[1]}, command: {command}}}`",
                P2P_COMMAND_NOT_FOUND,
            )
        fid, fconfig = handler
        fn = await self.resolver.function(
            Resource("functions", fid, project, branch, commit, app or None, fconfig)
        )
        call = P2PCommand(protocol, command, data, node_cid(source), node_cid(self.me))
        await self.runner.run(fn, _EMPTY, CallControl(time.monotonic() + fn.timeout), message=call)
        self.handled += 1
        self.log.info(
            "p2p command `%s` of %s (%d bytes, from %s) handled by function `%s` of project %s: %d bytes back",
            command,
            protocol,
            len(data),
            source or "?",
            fn.name,
            project,
            len(call.response),
        )
        return call.response

    async def send(
        self,
        project: str,
        app: str,
        branch: str,
        protocol: str,
        command: str,
        data: bytes,
        target: str,
        timeout: float,
    ) -> tuple[int, bytes]:
        """(errno, response) of `command` run on the copy `target` (""): the next copy in turn)."""
        try:
            copies = sorted(await self.substrates.copies(), key=lambda p: p.id)
        except DreamError as exc:
            self.log.warning("p2p command `%s`: the substrates could not be listed: %s", command, exc)
            return P2P_SEND_FAILED, b""
        if target:
            chosen = next((p for p in copies if p.id == target), None)
            if chosen is None:
                self.log.warning("p2p command `%s` to %s: no such node runs in the universe", command, target)
                return P2P_SEND_FAILED, b""
        elif copies:
            chosen = copies[next(self.turn) % len(copies)]
        else:
            chosen = None
        try:
            if chosen is None or chosen.id == self.me:
                return 0, await self.run(project, app, branch, protocol, command, data, self.me)
            body = {
                "project": project,
                "app": app,
                "branch": branch,
                "protocol": protocol,
                "command": command,
                "data": base64.b64encode(data).decode(),
                "source": self.me,
            }
            return 0, await self.substrates.command(chosen, body, timeout)
        except HandlerMissing as exc:
            self.log.warning("p2p command `%s` of %s: %s", command, protocol, exc)
            return exc.code, b""
        except ServiceError as exc:
            code = P2P_COMMAND_NOT_FOUND if exc.status == 404 else P2P_SEND_FAILED
            self.log.warning(
                "p2p command `%s` of %s failed on substrate %s: %s", command, protocol, chosen, exc
            )
            return code, b""
        except (WasmError, DreamError, OSError) as exc:
            self.log.warning("p2p command `%s` of %s failed: %s", command, protocol, exc)
            return P2P_SEND_FAILED, b""

    def listen_name(self, project: str, app: str, protocol: str) -> str:
        return f"/{socket_hash(project, app)}{protocol if protocol.startswith('/') else '/' + protocol}"

    def routes(self) -> list[BaseRoute]:
        return [Route(P2P_COMMAND, answer(self._command_route), methods=["POST"])]

    async def _command_route(self, request: Request) -> Any:
        q = await _COMMAND.read(request)
        try:
            data = base64.b64decode(q["data"], validate=True)
        except ValueError:
            raise DreamError("field `data` is not base64") from None
        try:
            response = await self.run(
                q["project"], q["app"], q["branch"], q["protocol"], q["command"], data, q["source"]
            )
        except HandlerMissing as exc:
            return reply(404, str(exc))
        except WasmError as exc:
            return JSONResponse({"code": 502, "error": str(exc)}, status_code=502)
        return {"data": base64.b64encode(response).decode()}
