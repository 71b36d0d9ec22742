"""Periodic work at staggered moments (`dream.node.beat`) and the heartbeat's margins."""

from __future__ import annotations

import statistics

from dream.node import beat
from dream.node.peers import ANNOUNCE_TIMEOUT, HEARTBEAT_SECONDS, PEER_TTL_SECONDS


def test_pauses_spread_around_their_period() -> None:
    pauses = [beat.pause(2.0) for _ in range(2000)]
    assert all(2.0 * (1 - beat.SPREAD) <= p <= 2.0 * (1 + beat.SPREAD) for p in pauses)
    # Spread over the whole range, not one fixed pause: loops started together drift apart.
    assert min(pauses) < 2.0 * (1 - 0.8 * beat.SPREAD)
    assert max(pauses) > 2.0 * (1 + 0.8 * beat.SPREAD)
    assert len(set(pauses)) > 1900
    # The mean stays the period: the rate of beats (and what it costs) is the period's.
    assert abs(statistics.fmean(pauses) - 2.0) < 0.05


def test_a_peer_survives_a_beat_lost_to_a_timeout() -> None:
    # A registry that took the beat last drops the peer only after PEER_TTL_SECONDS of silence: the
    # longest pause, a beat that waited ANNOUNCE_TIMEOUT in vain, and the longest pause again fit in it.
    longest = HEARTBEAT_SECONDS * (1 + beat.SPREAD)
    assert 2 * longest + ANNOUNCE_TIMEOUT < PEER_TTL_SECONDS
