"""Host functions of the `taubyte/sdk` pub-sub families (go-sdk `pubsub/node` and `pubsub/event`).

    publishToChannel(channelPtr, channelLen, bufPtr, len)   → errno  21 when refused (no messaging of the
                                                                     project matches, too big, ...)
    setSubscriptionChannel(channelPtr, channelLen)          → errno  20 when refused
    getWebSocketURLSize(channelPtr, channelLen, sizePtr)    → errno  38 when the channel has no websocket
    getWebSocketURL(channelPtr, channelLen, bufPtr)         → errno
    getMessageDataSize(ev, sizePtr) / getMessageData(ev, bufPtr)        the message of a pub-sub event
    getMessageChannelSize(ev, sizePtr) / getMessageChannel(ev, bufPtr)  its channel; 1 on another event

What publishing reaches is the substrate's (`EventServices` of the function's `FunctionScope`, see
`dream.substrate.pubsub`); without services the calls fail with their errno.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wasmtime

from dream.wasm import abi, errno, hostcall
from dream.wasm.event import PUBSUB_EVENT_TYPE, HttpEvent
from dream.wasm.family import data_call, read_text, size_call
from dream.wasm.guest_memory import guest
from dream.wasm.scope import current_scope

# go-sdk errno/types.go declaration order
SUBSCRIBE_FAILED = 20
PUBLISH_FAILED = 21
GET_WEBSOCKET_URL_FAILED = 38


def publish(caller: Any, channel_ptr: int, channel_len: int, buf: int, n: int) -> int:
    e = abi.current()
    if e is None:
        return errno.EVENT_NOT_FOUND
    channel = read_text(caller, e, channel_ptr, channel_len)
    data = guest(caller, e).read(buf, n) if n else b""
    if channel is None or data is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    scope = current_scope()
    if scope.services is None:
        return PUBLISH_FAILED
    return scope.services.publish(scope, channel, data)


def subscribe(caller: Any, channel_ptr: int, channel_len: int) -> int:
    e = abi.current()
    if e is None:
        return errno.EVENT_NOT_FOUND
    channel = read_text(caller, e, channel_ptr, channel_len)
    if channel is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    scope = current_scope()
    if scope.services is None:
        return SUBSCRIBE_FAILED
    return scope.services.subscribe(scope, channel)


def _socket_path(caller: Any, e: HttpEvent, channel_ptr: int, channel_len: int) -> tuple[bytes, int]:
    channel = read_text(caller, e, channel_ptr, channel_len)
    if channel is None:
        return b"", errno.ADDRESS_OUT_OF_MEMORY
    scope = current_scope()
    path = scope.services.websocket_path(scope, channel) if scope.services is not None else None
    if path is None:
        return b"", GET_WEBSOCKET_URL_FAILED
    return path.encode(), errno.NONE


def _message_part(part: Callable[[tuple[str, bytes]], bytes]) -> Callable[..., tuple[bytes, int]]:
    """The data or the channel of the pub-sub message the call runs for (event `ev`)."""

    def find(caller: Any, e: HttpEvent, ev: int) -> tuple[bytes, int]:
        if ev != 0 or e.kind != PUBSUB_EVENT_TYPE or not isinstance(e.message, tuple):
            return b"", errno.EVENT_NOT_FOUND
        return part(e.message), errno.NONE

    return find


def _data(message: tuple[str, bytes]) -> bytes:
    return message[1]


def _channel(message: tuple[str, bytes]) -> bytes:
    return message[0].encode()


_TABLE: list[tuple[str, int, Callable[..., int]]] = [
    ("publishToChannel", 4, publish),
    ("setSubscriptionChannel", 2, subscribe),
    ("getWebSocketURLSize", 3, size_call(_socket_path)),
    ("getWebSocketURL", 3, data_call(_socket_path)),
    ("getMessageDataSize", 2, size_call(_message_part(_data))),
    ("getMessageData", 2, data_call(_message_part(_data))),
    ("getMessageChannelSize", 2, size_call(_message_part(_channel))),
    ("getMessageChannel", 2, data_call(_message_part(_channel))),
]

IMPLEMENTED: frozenset[tuple[str, str]] = frozenset((abi.SDK, name) for name, *_ in _TABLE)
# They may wait for tns or another substrate: a module importing them never runs inline.
BLOCKING: frozenset[tuple[str, str]] = frozenset(
    (abi.SDK, name)
    for name in ("publishToChannel", "setSubscriptionChannel", "getWebSocketURLSize", "getWebSocketURL")
)


def define(linker: wasmtime.Linker, define: Callable[..., None] = hostcall.define) -> None:
    for name, params, fn in _TABLE:
        define(linker, abi.SDK, name, ("i32",) * params, True, fn, takes_caller=True)
