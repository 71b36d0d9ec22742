"""What a function's event host calls reach: who the function is (`self`) and the substrate's services
(publishing to channels, p2p commands, DNS lookups, reaching the universe's own names).

The wasm host knows nothing of tns or of other nodes: the substrate gives each function a
`FunctionScope` (see `dream.substrate.scope`), and its calls carry it (`HttpEvent.scope`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from dream.wasm import abi


class EventServices(Protocol):
    """The substrate's side of the event families. Methods may block (calls that use them run on
    worker threads) and report failures as errno values, having logged why."""

    def local_address(self, host: str, timeout: float) -> tuple[str, int] | None:
        """Where a name the universe serves is served on this machine (this substrate's HTTP port),
        or None for a name of the outside world."""

    def publish(self, scope: FunctionScope, channel: str, data: bytes) -> int:
        """Publish `data` on `channel` of the function's project: 0 once accepted, else an errno."""

    def subscribe(self, scope: FunctionScope, channel: str) -> int:
        """Subscribe the function to `channel` too, as long as it is served: 0, else an errno."""

    def websocket_path(self, scope: FunctionScope, channel: str) -> str | None:
        """The path websocket clients of `channel` connect to, None (logged) when it has none."""

    def p2p_protocol(self, scope: FunctionScope, protocol: str) -> bool:
        """Whether a service of the function's project (or application) has `protocol`."""

    def p2p_send(
        self, scope: FunctionScope, protocol: str, command: str, data: bytes, target: str, timeout: float
    ) -> tuple[int, bytes]:
        """(errno, response) of running `command` of `protocol` on the node `target` ("": any)."""

    def p2p_discover(self, scope: FunctionScope, most: int) -> list[str] | None:
        """Ids of up to `most` nodes that run p2p handlers (substrates), None when they cannot be listed."""

    def p2p_listen(self, scope: FunctionScope, protocol: str) -> str | None:
        """The project's name for `protocol` (what a node listens on), None when no service has it."""

    def dns_lookup(
        self, scope: FunctionScope, kind: str, name: str, server: tuple[str, str] | None, timeout: float
    ) -> list[str] | None:
        """The answers of a `txt`, `address`, `cname` or `mx` lookup of `name` (at `server`, (address,
        network), when given); None (logged) when it failed."""


@dataclass(frozen=True, slots=True)
class FunctionScope:
    """A function as its host calls see it: the `self` values, and the services its calls reach."""

    project: str = ""
    application: str = ""
    resource: str = ""  # the function's id
    branch: str = ""
    commit: str = ""
    services: EventServices | None = None


NO_SCOPE = FunctionScope()


def current_scope() -> FunctionScope:
    """The scope of the call running on this thread (an empty one when it has none)."""
    e = abi.current()
    found = e.scope if e is not None else None
    return found if isinstance(found, FunctionScope) else NO_SCOPE
