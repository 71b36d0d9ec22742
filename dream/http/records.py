"""The request inspector's records: a bounded ring of the last requests a node served.

The serving path only appends a tuple (no dict, no formatting): the names of its fields are given once,
and records become dicts only when someone reads them (`after`). The substrate and the gateway each keep
one ring; the daemon gathers them per universe (`GET /inspect/{universe}`). Where the native call
extension is built, the substrate's ring is a `SlotRing`: fixed-size records in C, written per request
without making a Python object, their texts cut to `TEXT_BYTES`.

`DREAM_INSPECT=0` in a node's environment turns the records off (no ring at all); the default is on.
`DREAM_INSPECT_RING` sets how many records a node keeps (default `INSPECT_RING`).
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from starlette.responses import Response

ENV = "DREAM_INSPECT"
RING_ENV = "DREAM_INSPECT_RING"
# Records kept per node: the oldest goes when one more comes.
INSPECT_RING = 256
# The most DREAM_INSPECT_RING may ask: a substrate's records are allocated at start (~1 KiB each, the
# kernel's zero pages until records reach them), so a typo of a few zeros must not take the memory.
INSPECT_RING_MAX = 100_000
# The most bytes of UTF-8 a record keeps of each text (a substrate's `TEXT_BYTES` fields): a longer one is
# cut at a character boundary and ends in CUT (which these bytes include).
METHOD_BYTES = 16
HOST_BYTES = 256
PATH_BYTES = 512
VIA_BYTES = 128
TEXT_BYTES = {"method": METHOD_BYTES, "host": HOST_BYTES, "path": PATH_BYTES, "via": VIA_BYTES}
CUT = "\u2026"
# Most records one read returns (a reader asks again from the last `seq` it got).
READ_LIMIT = 1000
# The header a gateway adds to a request it forwards: `<gateway node id> <its request number>`. It is the
# last header but `content-length` (which the gateway's upstream client adds after the others), so the
# substrate finds it without a search.
VIA = b"x-dream-gateway"


def via_of(headers: list[tuple[bytes, bytes]] | None) -> bytes:
    """The `x-dream-gateway` value of a request's headers (b"": none), looked for where a gateway puts it."""
    if headers:
        name, value = headers[-1]
        if name == VIA:
            return value
        if len(headers) > 1 and headers[-2][0] == VIA:
            return headers[-2][1]
    return b""


def ring_size() -> int:
    """The ring size from DREAM_INSPECT_RING (a positive integer), else INSPECT_RING."""
    text = os.environ.get(RING_ENV, "").strip()
    if not text:
        return INSPECT_RING
    try:
        size = int(text)
    except ValueError:
        size = 0
    if size < 1:
        raise ValueError(
            f"{RING_ENV}={text!r} is not a positive whole number of records (default {INSPECT_RING})"
        )
    if size > INSPECT_RING_MAX:
        raise ValueError(
            f"{RING_ENV}={text!r} is more records than a node keeps (at most {INSPECT_RING_MAX:,}); "
            "ask for fewer"
        )
    return size


def enabled() -> bool:
    return os.environ.get(ENV, "1").strip() != "0"


class RequestRing:
    """The last `size` records of a node; each record is a tuple of `fields`: the first is `seq`
    (numbered from 1 by `next_seq`), the second `time`, as `time.perf_counter_ns()` when the record was
    made (cheaper than the wall clock on the serving path): `after` makes it seconds since the epoch."""

    __slots__ = ("clipped", "epoch", "extra", "fields", "records", "seq", "size")

    def __init__(
        self, fields: tuple[str, ...], size: int = INSPECT_RING, clip: Mapping[str, int] | None = None
    ) -> None:
        if fields[:2] != ("seq", "time"):
            raise ValueError("a record's first fields are its `seq` and its `time`")
        self.fields = fields
        self.size = size
        self.records: deque[tuple[Any, ...]] = deque(maxlen=size)
        self.seq = 0
        self.epoch = _epoch()
        # (index, most bytes) of the texts cut when read, as a SlotRing cuts them when written.
        self.clipped = tuple((fields.index(name), most) for name, most in (clip or {}).items())
        # Records kept elsewhere for this ring, numbered from the same `seq` (the gateway's relay in C
        # keeps its own without making a tuple per request): `extra(seq)` gives those above `seq`.
        self.extra: Callable[[int], list[tuple[Any, ...]]] | None = None

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def add(self, record: tuple[Any, ...]) -> None:
        """Keep `record` (its first item from `next_seq`); the oldest goes when the ring is full."""
        self.records.append(record)

    def tuples(self, seq: int = 0) -> list[tuple[Any, ...]]:
        """The records numbered above `seq` as tuples, in the order they were made (oldest first), with
        those kept elsewhere (`extra`): the newest `size` of them all."""
        found = [r for r in self.records if r[0] > seq]
        if self.extra is not None:
            found = sorted(found + self.extra(seq), key=lambda r: r[1])[-self.size :]
        return found

    def after(self, seq: int = 0, limit: int = READ_LIMIT) -> list[dict[str, Any]]:
        """The records numbered above `seq`, oldest first, at most `limit` (the newest of them)."""
        found = self.tuples(seq)[-limit:] if limit > 0 else []
        if self.clipped:
            found = [_clipped(r, self.clipped) for r in found]
        return _dicts(self.fields, self.epoch, found)

    def answer(self, seq: int, limit: int, node: str) -> dict[str, Any]:
        """The node API's answer: {node, size, last, records}."""
        return {"node": node, "size": self.size, "last": self.seq, "records": self.after(seq, limit)}


class Slots(Protocol):
    """The native extension's `Ring` (`_native/recordring.c`), as a SlotRing uses it."""

    @property
    def seq(self) -> int: ...
    @property
    def size(self) -> int: ...
    def read(self, after: int, limit: int, /) -> list[tuple[Any, ...]]: ...
    def served(
        self, ready: Any, request: Any, host: bytes, served: Any, counts: Any, began: int, /
    ) -> None: ...
    def record(self, ready: Any, request: Any, status: int, result: Any, began: int, /) -> None: ...


# Makes the native ring: (size, method, host, path and via bytes) -> Slots.
SlotsFactory = Callable[[int, int, int, int, int], Slots]


class SlotRing:
    """A RequestRing whose records live in C (`slots`, the native extension's `Ring`): fixed-size
    records written there per request (its `served` and `record`), read as RequestRing reads its own.
    Its fields are a substrate's (`dream.substrate.front.RECORD_FIELDS`), its texts cut to TEXT_BYTES."""

    __slots__ = ("epoch", "fields", "size", "slots")

    def __init__(self, fields: tuple[str, ...], slots: Slots) -> None:
        self.fields = fields
        self.slots = slots
        self.size = slots.size
        self.epoch = _epoch()

    @property
    def seq(self) -> int:
        return self.slots.seq

    def after(self, seq: int = 0, limit: int = READ_LIMIT) -> list[dict[str, Any]]:
        """The records numbered above `seq`, oldest first, at most `limit` (the newest of them)."""
        return _dicts(self.fields, self.epoch, self.slots.read(seq, limit))

    def answer(self, seq: int, limit: int, node: str) -> dict[str, Any]:
        """The node API's answer: {node, size, last, records}."""
        return {"node": node, "size": self.size, "last": self.seq, "records": self.after(seq, limit)}


def _epoch() -> float:
    """Wall-clock seconds at perf_counter_ns() == 0: perf_counter runs at the wall clock's rate."""
    return time.time() - time.perf_counter_ns() / 1e9


def _dicts(fields: tuple[str, ...], epoch: float, found: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Records (tuples of `fields`, `time` in perf_counter ns) as dicts, `time` in epoch seconds."""
    return [
        dict(
            zip(
                fields,
                (r[0], round(epoch + r[1] / 1e9, 6), *(_text(v) for v in r[2:])),
                strict=True,
            )
        )
        for r in found
    ]


def _text(value: Any) -> Any:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def clip(text: str, most: int) -> str:
    """`text` kept to `most` bytes of UTF-8: a longer one is cut at a character boundary and ends in CUT
    (the bytes of CUT counted), as the native ring cuts it."""
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= most:
        return text
    end = most - len(CUT.encode())
    while end > 0 and raw[end] & 0xC0 == 0x80:  # not inside a character
        end -= 1
    return raw[:end].decode("utf-8", "surrogatepass") + CUT


def _clipped(record: tuple[Any, ...], clipped: tuple[tuple[int, int], ...]) -> tuple[Any, ...]:
    values = list(record)
    for index, most in clipped:
        values[index] = clip(_text(values[index]), most)
    return tuple(values)


def make_ring(fields: tuple[str, ...], clip: Mapping[str, int] | None = None) -> RequestRing | None:
    """This node's ring, or None when DREAM_INSPECT=0 (`clip`: the texts cut to so many bytes when read)."""
    return RequestRing(fields, ring_size(), clip) if enabled() else None


def make_slot_ring(fields: tuple[str, ...], native: SlotsFactory) -> SlotRing | None:
    """A substrate's ring in C (`native` makes its slots, with room for TEXT_BYTES), or None when
    DREAM_INSPECT=0."""
    if not enabled():
        return None
    return SlotRing(fields, native(ring_size(), METHOD_BYTES, HOST_BYTES, PATH_BYTES, VIA_BYTES))


def read_params(query: Mapping[str, str]) -> tuple[int, int]:
    """(after, limit) from a reader's query (`after=<seq>&limit=<n>`); ValueError with a sentence when
    one is not a whole number."""
    values = []
    for name, default in (("after", 0), ("limit", READ_LIMIT)):
        given = query.get(name, "")
        try:
            value = int(given) if given != "" else default
        except ValueError:
            raise ValueError(f"`{name}` must be a whole number, not {given!r}") from None
        if value < 0:
            raise ValueError(f"`{name}` must not be negative, not {given!r}")
        values.append(value)
    return values[0], min(values[1], READ_LIMIT)


def records_answer(ring: RequestRing | SlotRing | None, query: Mapping[str, str], node: str) -> Response:
    """A node's answer to p2p `GET /<service>/requests?after=&limit=`: its records, 409 when its inspector
    is off, 400 with the sentence for a bad query."""
    from starlette.responses import JSONResponse

    from dream.http.answers import reply

    if ring is None:
        return reply(409, "the request inspector is off on this node (DREAM_INSPECT=0)")
    try:
        after, limit = read_params(query)
    except ValueError as exc:
        return reply(400, str(exc))
    return JSONResponse(ring.answer(after, limit, node))
