"""Where the gateway reaches a substrate: the Unix socket it advertises, else its HTTP port on loopback.

A substrate serves its HTTP on a Unix socket in its directory too (`dream.node.runtime.HTTP_SOCKET`) and
names it in its announce (`PeerInfo.sockets["http"]`). On loopback TCP every write also carries the
receiving side's TCP processing; a Unix socket hands the bytes over with far less kernel work, which is
most of what the gateway spends per relayed request. Same protocol, same server, same limits: only the
hop changes. `DREAM_GATEWAY_UPSTREAM=tcp` keeps the loopback TCP hop (said in one log line at start).

An upstream is named by (host, port) throughout the gateway (`dream.http.upstream`): host is 127.0.0.1
or the socket's path; the port always names the substrate (the C relay keys its connections by it).
"""

from __future__ import annotations

import asyncio
import logging
import os

from dream.http.upstream import connect, is_unix
from dream.node.peers import PeerInfo

log = logging.getLogger("dream.gateway")

ENV = "DREAM_GATEWAY_UPSTREAM"  # tcp: reach substrates on their TCP port even when they advertise a socket
LOOPBACK = "127.0.0.1"


def use_sockets() -> bool:
    """Whether the gateway connects to the Unix sockets substrates advertise; said in one log line."""
    if os.environ.get(ENV, "").strip().lower() == "tcp":
        log.info("the gateway reaches substrates on loopback TCP (%s=tcp)", ENV)
        return False
    log.info("the gateway reaches substrates on their Unix socket when they advertise one (%s=tcp: TCP)", ENV)
    return True


def host_of(peer: PeerInfo, sockets: bool) -> str:
    """The host the gateway connects to for `peer`'s HTTP: its Unix socket's path, or loopback."""
    path = peer.sockets.get("http", "") if sockets else ""
    return path if is_unix(path) else LOOPBACK


async def accepts(host: str, port: int, timeout: float) -> bool:
    """Whether something accepts a connection at (host, port) within `timeout` (closed again at once),
    connected as the pool and the relay connect (`dream.http.upstream.connect`)."""
    try:
        transport, _ = await asyncio.wait_for(
            connect(asyncio.get_running_loop(), asyncio.Protocol, host, port), timeout
        )
    except (OSError, TimeoutError):
        return False
    transport.close()
    return True
