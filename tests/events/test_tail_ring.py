"""The messages a substrate keeps for `dream pubsub tail`: the last TAIL_KEPT, oldest dropped first."""

from __future__ import annotations

import logging
from typing import Any

from dream.substrate.pubsub import TAIL_KEPT, PubSub, Topic


def test_a_substrate_keeps_the_last_tail_kept_messages() -> None:
    nothing: Any = None  # accept() reaches none of the other parts
    pubsub = PubSub(nothing, nothing, nothing, nothing, "me", ["main"], logging.getLogger("test"))
    topic = Topic("QmProject", "", "orders")
    for i in range(TAIL_KEPT):
        pubsub.accept(topic, str(i).encode(), "test")
    assert len(pubsub.kept) == TAIL_KEPT and pubsub.kept[0].data == b"0"
    pubsub.accept(topic, b"one more", "test")
    assert len(pubsub.kept) == TAIL_KEPT
    assert pubsub.kept[0].data == b"1" and pubsub.kept[-1].data == b"one more"
    assert pubsub.kept[-1].seq == TAIL_KEPT + 1
