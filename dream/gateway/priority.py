"""The gateway yields the CPU to the substrates it relays to: it runs at niceness `GATEWAY_NICE`.

On a machine with few cores a request through the gateway keeps three processes busy (client, gateway,
substrate), and the kernel often runs the gateway on the substrate's core while another core idles:
measured on 2 cores under wrk, the substrate's event loop was runnable without a core a quarter of each
second. The substrate is the one every request needs the most of, so the gateway gives way to it there:
at niceness 5 that wait fell by about half, and the gateway served about a tenth more requests
(docs/performance.md). With a core to spare, niceness changes nothing.

`DREAM_GATEWAY_NICE=<0..19>` in the daemon's environment sets it (0: the gateway's priority is left as it
started); any other value stops the gateway at start with the reason.
"""

from __future__ import annotations

import logging
import os

from dream.process.priority import lower_thread_priority

ENV = "DREAM_GATEWAY_NICE"
GATEWAY_NICE = 5
MAX_NICE = 19  # the kernel's lowest priority


def niceness() -> int:
    """The niceness asked for (`DREAM_GATEWAY_NICE`, else GATEWAY_NICE); ValueError for anything else
    than a whole number from 0 to 19."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return GATEWAY_NICE
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_NICE:
        raise ValueError(
            f"{ENV}={text!r} is not a niceness: use a whole number from 0 (off) to {MAX_NICE} "
            f"(default {GATEWAY_NICE})"
        )
    return value


def give_way(log: logging.Logger) -> int | None:
    """Lower the calling thread (the gateway's event loop, before it starts others) to `niceness()`;
    the niceness it runs at, said in one log line, or None when off or not possible."""
    wanted = niceness()
    if wanted == 0:
        log.info("the gateway keeps its CPU priority (%s=0)", ENV)
        return None
    got = lower_thread_priority(wanted)
    if got is None:
        log.info("the gateway keeps its CPU priority: this system does not lower it per thread")
        return None
    log.info("the gateway runs at niceness %d, giving way to the substrates on a shared core (%s)", got, ENV)
    return got
