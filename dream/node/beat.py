"""Periodic work at staggered moments.

A universe's nodes start within a few milliseconds of each other, so loops that sleep a fixed period
(heartbeats, leader checks, sweeps) would stay in step and wake together, every time, in one burst. A
pause drawn around its period spreads them out; its mean stays the period, so the timeouts built on it
(a peer's TTL, a lease) keep their margin.
"""

from __future__ import annotations

import random

# A pause is its period give or take this fraction of it.
SPREAD = 0.25


def pause(period: float) -> float:
    """`period` seconds, give or take SPREAD of it, at random."""
    return period * random.uniform(1.0 - SPREAD, 1.0 + SPREAD)
