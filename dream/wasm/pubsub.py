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
from dream.wasm.guest_memory import guest
from dream.wasm.scope import current_scope

# go-sdk errno/types.go declaration order
SUBSCRIBE_FAILED = 20
PUBLISH_FAILED = 21
GET_WEBSOCKET_URL_FAILED = 38


def _text(caller: Any, e: HttpEvent, ptr: int, n: int) -> str | None:
    raw = guest(caller, e).read(ptr, n)
    return None if raw is None else raw.decode(errors="replace")


def publish(caller: Any, channel_ptr: int, channel_len: int, buf: int, n: int) -> int:
    e = abi.current()
    if e is None:
        return errno.EVENT_NOT_FOUND
    channel = _text(caller, e, channel_ptr, channel_len)
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
    channel = _text(caller, e, channel_ptr, channel_len)
    if channel is None:
        return errno.ADDRESS_OUT_OF_MEMORY
    scope = current_scope()
    if scope.services is None:
        return SUBSCRIBE_FAILED
    return scope.services.subscribe(scope, channel)


def _socket_path(caller: Any, e: HttpEvent, channel_ptr: int, channel_len: int) -> tuple[bytes, int]:
    channel = _text(caller, e, channel_ptr, channel_len)
    if channel is None:
        return b"", errno.ADDRESS_OUT_OF_MEMORY
    scope = current_scope()
    path = scope.services.websocket_path(scope, channel) if scope.services is not None else None
    if path is None:
        return b"", GET_WEBSOCKET_URL_FAILED
    return path.encode(), errno.NONE


def websocket_url_size(caller: Any, channel_ptr: int, channel_len: int, size_ptr: int) -> int:
    e = abi.current()
    if e is None:
        return errno.EVENT_NOT_FOUND
    path, code = _socket_path(caller, e, channel_ptr, channel_len)
    if code:
        return code
    return errno.NONE if guest(caller, e).put_u32(size_ptr, len(path)) else errno.MEMORY_WRITE_FAILED


def websocket_url(caller: Any, channel_ptr: int, channel_len: int, buf: int) -> int:
    e = abi.current()
    if e is None:
        return errno.EVENT_NOT_FOUND
    path, code = _socket_path(caller, e, channel_ptr, channel_len)
    if code:
        return code
    return errno.NONE if guest(caller, e).write(buf, path) else errno.ADDRESS_OUT_OF_MEMORY


def _message(ev: int) -> tuple[HttpEvent | None, tuple[str, bytes] | None]:
    e = abi.current() if ev == 0 else None
    if e is None or e.kind != PUBSUB_EVENT_TYPE or not isinstance(e.message, tuple):
        return e, None
    return e, e.message


def _message_size(part: Callable[[tuple[str, bytes]], bytes]) -> Callable[..., int]:
    def size(caller: Any, ev: int, size_ptr: int) -> int:
        e, message = _message(ev)
        if e is None or message is None:
            return errno.EVENT_NOT_FOUND
        ok = guest(caller, e).put_u32(size_ptr, len(part(message)))
        return errno.NONE if ok else errno.MEMORY_WRITE_FAILED

    return size


def _message_data(part: Callable[[tuple[str, bytes]], bytes]) -> Callable[..., int]:
    def data(caller: Any, ev: int, buf: int) -> int:
        e, message = _message(ev)
        if e is None or message is None:
            return errno.EVENT_NOT_FOUND
        return errno.NONE if guest(caller, e).write(buf, part(message)) else errno.ADDRESS_OUT_OF_MEMORY

    return data


def _data(message: tuple[str, bytes]) -> bytes:
    return message[1]


def _channel(message: tuple[str, bytes]) -> bytes:
    return message[0].encode()


_TABLE: list[tuple[str, int, Callable[..., int]]] = [
    ("publishToChannel", 4, publish),
    ("setSubscriptionChannel", 2, subscribe),
    ("getWebSocketURLSize", 3, websocket_url_size),
    ("getWebSocketURL", 3, websocket_url),
    ("getMessageDataSize", 2, _message_size(_data)),
    ("getMessageData", 2, _message_data(_data)),
    ("getMessageChannelSize", 2, _message_size(_channel)),
    ("getMessageChannel", 2, _message_data(_channel)),
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
