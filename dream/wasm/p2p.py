"""Host functions of the `taubyte/sdk` p2p families (go-sdk `p2p/node` and `p2p/event`).

    newCommand(protocolPtr, protocolLen, commandPtr, commandLen, idPtr)   → errno  45 no service of the
                                                                                   project has that protocol
    sendCommand(id, bufPtr, len, responseSizePtr)                         → errno  44 no function handles
                                                                                   the command; 43 send failed
    sendCommandTo(id, cidPtr, bufPtr, len, responseSizePtr)               → errno  the same, on the node `cid`
    readCommandResponse(id, bufPtr, len)                                  → errno
    discoverPeersSize(max, nsTimeout, discoveryIdPtr, sizePtr)            → errno  117 when it fails
    discoverPeers(discoveryId, bufPtr)                                    → errno  CIDs, each u16 LE length + bytes
    listenToProtocolSize(protocolPtr, protocolLen, sizePtr)               → errno  48 when it fails
    listenToProtocol(protocolPtr, protocolLen, bufPtr, len)               → errno  8 unless len is the size
    getP2PEventCommandSize / getP2PEventCommand, getP2PEventDataSize / getP2PEventData,
    getP2PEventProtocolSize / getP2PEventProtocol (ev, ptr)               the command a handler runs for
    getP2PEventFrom / getP2PEventTo (ev, 64-byte CID buffer)              the nodes it came from and runs on
    writeP2PResponse(ev, bufPtr, len)                                     its answer

An unknown command id is 10 (upstream's `ErrorClientNotFound`). Node ids cross the ABI as CIDs in a
64-byte buffer (`node_cid`). What the calls reach is the substrate's (`EventServices`).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import wasmtime

from dream.wasm import abi, errno, hostcall
from dream.wasm.event import P2P_EVENT_TYPE, HttpEvent, P2PCommand
from dream.wasm.family import data_call, new_handle, read_text, size_call
from dream.wasm.guest_memory import guest
from dream.wasm.scope import current_scope

# go-sdk errno/types.go declaration order
CLIENT_NOT_FOUND = 10
P2P_SEND_FAILED = 43
P2P_COMMAND_NOT_FOUND = 44
P2P_PROTOCOL_NOT_FOUND = 45
P2P_LISTEN_FAILED = 48
P2P_DISCOVER_FAILED = 117

CID_BUFFER = 64  # bytes a CID takes in guest memory (go-sdk utils/codec/cid.go)
_LIBP2P_KEY = 0x72
_IDENTITY = 0x00


def node_cid(peer_id: str) -> bytes:
    """A node id as a CIDv1 (codec libp2p-key, identity multihash of the id's text)."""
    raw = peer_id.encode()
    return bytes([0x01, _LIBP2P_KEY, _IDENTITY, len(raw)]) + raw


def cid_node(buf: bytes) -> str | None:
    """The node id of a CID made by `node_cid` (zero padding after it ignored), None for another."""
    if len(buf) < 4 or buf[0] != 0x01 or buf[1] != _LIBP2P_KEY or buf[2] != _IDENTITY:
        return None
    n = buf[3]
    raw = buf[4 : 4 + n]
    return raw.decode(errors="replace") if len(raw) == n else None


class _Command:
    __slots__ = ("command", "protocol", "response")

    def __init__(self, protocol: str, command: str) -> None:
        self.protocol = protocol
        self.command = command
        self.response = b""


def _command(e: HttpEvent, command_id: int) -> _Command | None:
    found = e.handles.get(command_id) if e.handles else None
    return found if isinstance(found, _Command) else None


def new_command(caller: Any, p_ptr: int, p_len: int, c_ptr: int, c_len: int, id_ptr: int) -> int:
    e = abi.current()
    if e is None:
        return errno.EVENT_NOT_FOUND
    protocol, command = read_text(caller, e, p_ptr, p_len), read_text(caller, e, c_ptr, c_len)
    if protocol is None or command is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    scope = current_scope()
    if scope.services is None or not scope.services.p2p_protocol(scope, protocol):
        return P2P_PROTOCOL_NOT_FOUND
    handle = new_handle(e, _Command(protocol, command))
    return errno.NONE if guest(caller, e).put_u32(id_ptr, handle) else errno.MEMORY_WRITE_FAILED


def _send(caller: Any, e: HttpEvent, cmd: _Command, target: str, buf: int, n: int, size_ptr: int) -> int:
    data = guest(caller, e).read(buf, n) if n else b""
    if data is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    scope = current_scope()
    if scope.services is None:
        return P2P_SEND_FAILED
    code, response = scope.services.p2p_send(scope, cmd.protocol, cmd.command, data, target, e.remaining())
    if code:
        return code
    cmd.response = response
    return errno.NONE if guest(caller, e).put_u32(size_ptr, len(response)) else errno.MEMORY_WRITE_FAILED


def send_command(caller: Any, command_id: int, buf: int, n: int, size_ptr: int) -> int:
    e = abi.current()
    if e is None:
        return errno.EVENT_NOT_FOUND
    cmd = _command(e, command_id)
    if cmd is None:
        return CLIENT_NOT_FOUND
    return _send(caller, e, cmd, "", buf, n, size_ptr)


def send_command_to(caller: Any, command_id: int, cid_ptr: int, buf: int, n: int, size_ptr: int) -> int:
    e = abi.current()
    if e is None:
        return errno.EVENT_NOT_FOUND
    cmd = _command(e, command_id)
    if cmd is None:
        return CLIENT_NOT_FOUND
    raw = guest(caller, e).read(cid_ptr, CID_BUFFER)
    if raw is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    target = cid_node(raw)
    if target is None:
        return P2P_SEND_FAILED
    return _send(caller, e, cmd, target, buf, n, size_ptr)


def read_response(caller: Any, command_id: int, buf: int, n: int) -> int:
    e = abi.current()
    if e is None:
        return errno.EVENT_NOT_FOUND
    cmd = _command(e, command_id)
    if cmd is None:
        return CLIENT_NOT_FOUND
    if (n & 0xFFFFFFFF) < len(cmd.response):
        return errno.BUFFER_TOO_SMALL
    return errno.NONE if guest(caller, e).write(buf, cmd.response) else errno.ADDRESS_OUT_OF_MEMORY


class _Discovery:
    __slots__ = ("encoded",)

    def __init__(self, encoded: bytes) -> None:
        self.encoded = encoded


def discover_size(caller: Any, most: int, ns_timeout: int, id_ptr: int, size_ptr: int) -> int:
    e = abi.current()
    if e is None:
        return errno.EVENT_NOT_FOUND
    scope = current_scope()
    peers = scope.services.p2p_discover(scope, most) if scope.services is not None else None
    if peers is None:
        return P2P_DISCOVER_FAILED
    encoded = b"".join(struct.pack("<H", len(c)) + c for c in (node_cid(p) for p in peers))
    g = guest(caller, e)
    if not (g.put_u32(id_ptr, new_handle(e, _Discovery(encoded))) and g.put_u32(size_ptr, len(encoded))):
        return errno.MEMORY_WRITE_FAILED
    return errno.NONE


def discover(caller: Any, discovery_id: int, buf: int) -> int:
    e = abi.current()
    if e is None:
        return errno.EVENT_NOT_FOUND
    found = e.handles.get(discovery_id) if e.handles else None
    if not isinstance(found, _Discovery):
        return P2P_DISCOVER_FAILED
    return errno.NONE if guest(caller, e).write(buf, found.encoded) else errno.ADDRESS_OUT_OF_MEMORY


def _listen(caller: Any, e: HttpEvent, ptr: int, n: int) -> tuple[bytes, int]:
    protocol = read_text(caller, e, ptr, n)
    if protocol is None:
        return b"", errno.ADDRESS_OUT_OF_MEMORY
    scope = current_scope()
    found = scope.services.p2p_listen(scope, protocol) if scope.services is not None else None
    return (b"", P2P_LISTEN_FAILED) if found is None else (found.encode(), errno.NONE)


def listen(caller: Any, ptr: int, n: int, buf: int, size: int) -> int:
    e = abi.current()
    if e is None:
        return errno.EVENT_NOT_FOUND
    found, code = _listen(caller, e, ptr, n)
    if code:
        return code
    if (size & 0xFFFFFFFF) != len(found):
        return errno.EOF  # upstream's answer for a buffer of another size
    return errno.NONE if guest(caller, e).write(buf, found) else errno.ADDRESS_OUT_OF_MEMORY


# -- the p2p event ---------------------------------------------------------------------------------


def _p2p(ev: int) -> tuple[HttpEvent | None, P2PCommand | None]:
    e = abi.current() if ev == 0 else None
    if e is None or e.kind != P2P_EVENT_TYPE or not isinstance(e.message, P2PCommand):
        return e, None
    return e, e.message


def _event_part(part: Callable[[P2PCommand], bytes]) -> Callable[..., tuple[bytes, int]]:
    """The command, data or protocol of the p2p command the call runs for (event `ev`)."""

    def find(caller: Any, e: HttpEvent, ev: int) -> tuple[bytes, int]:
        if ev != 0 or e.kind != P2P_EVENT_TYPE or not isinstance(e.message, P2PCommand):
            return b"", errno.EVENT_NOT_FOUND
        return part(e.message), errno.NONE

    return find


def _cid(part: Callable[[P2PCommand], bytes]) -> Callable[..., int]:
    def write(caller: Any, ev: int, buf: int) -> int:
        e, cmd = _p2p(ev)
        if e is None or cmd is None:
            return errno.EVENT_NOT_FOUND
        value = part(cmd)[:CID_BUFFER].ljust(CID_BUFFER, b"\0")
        return errno.NONE if guest(caller, e).write(buf, value) else errno.ADDRESS_OUT_OF_MEMORY

    return write


def write_response(caller: Any, ev: int, buf: int, n: int) -> int:
    e, cmd = _p2p(ev)
    if e is None or cmd is None:
        return errno.EVENT_NOT_FOUND
    data = guest(caller, e).read(buf, n) if n else b""
    if data is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    cmd.response = data
    return errno.NONE


def _command_of(cmd: P2PCommand) -> bytes:
    return cmd.command.encode()


def _data_of(cmd: P2PCommand) -> bytes:
    return cmd.data


def _protocol_of(cmd: P2PCommand) -> bytes:
    return cmd.protocol.encode()


def _from(cmd: P2PCommand) -> bytes:
    return cmd.source


def _to(cmd: P2PCommand) -> bytes:
    return cmd.target


_TABLE: list[tuple[str, int, Callable[..., int]]] = [
    ("newCommand", 5, new_command),
    ("sendCommand", 4, send_command),
    ("sendCommandTo", 5, send_command_to),
    ("readCommandResponse", 3, read_response),
    ("discoverPeersSize", 4, discover_size),
    ("discoverPeers", 2, discover),
    ("listenToProtocolSize", 3, size_call(_listen)),
    ("listenToProtocol", 4, listen),
    ("getP2PEventCommandSize", 2, size_call(_event_part(_command_of))),
    ("getP2PEventCommand", 2, data_call(_event_part(_command_of))),
    ("getP2PEventDataSize", 2, size_call(_event_part(_data_of))),
    ("getP2PEventData", 2, data_call(_event_part(_data_of))),
    ("getP2PEventProtocolSize", 2, size_call(_event_part(_protocol_of))),
    ("getP2PEventProtocol", 2, data_call(_event_part(_protocol_of))),
    ("getP2PEventFrom", 2, _cid(_from)),
    ("getP2PEventTo", 2, _cid(_to)),
    ("writeP2PResponse", 3, write_response),
]

IMPLEMENTED: frozenset[tuple[str, str]] = frozenset((abi.SDK, name) for name, *_ in _TABLE)
# They wait for tns or another substrate: a module importing them never runs inline.
BLOCKING: frozenset[tuple[str, str]] = frozenset(
    (abi.SDK, name)
    for name in (
        "newCommand",
        "sendCommand",
        "sendCommandTo",
        "discoverPeersSize",
        "listenToProtocolSize",
        "listenToProtocol",
    )
)


def define(linker: wasmtime.Linker, define: Callable[..., None] = hostcall.define) -> None:
    for name, params, fn in _TABLE:
        define(linker, abi.SDK, name, ("i32",) * params, True, fn, takes_caller=True)
