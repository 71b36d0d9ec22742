"""DNS lookups for functions (the `dns` host family): the universe's own names are answered by seer's
DNS server, the rest by the machine's resolver (the first `nameserver` of /etc/resolv.conf), or by the
server a function rerouted its resolver to. Each lookup is bounded by the calling function's remaining
time (at most `LOOKUP_TIMEOUT`). dnslib is imported on the first lookup."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

LOOKUP_TIMEOUT = 5.0  # seconds one DNS query may take
RESOLV_CONF = Path("/etc/resolv.conf")


class LookupFailed(Exception):
    pass


def system_server() -> tuple[str, int]:
    """The machine's first nameserver (127.0.0.53 when none is listed)."""
    try:
        for line in RESOLV_CONF.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                return parts[1], 53
    except OSError:
        pass
    return "127.0.0.53", 53


def parse_server(address: str) -> tuple[str, int]:
    """`host:port` (or `host`, port 53; `[v6]:port`) → (host, port)."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, int(rest.lstrip(":") or 53)
    host, _, port = address.rpartition(":") if address.count(":") == 1 else (address, "", "")
    return host, int(port or 53)


def query(kind: str, name: str, server: tuple[str, int], tcp: bool, timeout: float) -> list[str]:
    """The answers to a TXT, CNAME, MX or PTR (`address`) query to `server`; LookupFailed when there are none."""
    from dnslib import QTYPE, RCODE, DNSRecord

    qname = name
    qtype = {"txt": "TXT", "cname": "CNAME", "mx": "MX", "address": "PTR"}[kind]
    if kind == "address":
        try:
            qname = ipaddress.ip_address(name).reverse_pointer
        except ValueError:
            raise LookupFailed(f"`{name}` is not an IP address (a reverse lookup takes one)") from None
    try:
        raw = DNSRecord.question(qname, qtype).send(server[0], server[1], tcp=tcp, timeout=max(0.05, timeout))
        reply = DNSRecord.parse(raw)
    except Exception as exc:  # dnslib raises its own errors for a broken answer, OSError for the socket
        raise LookupFailed(f"{qtype} query for {qname} to {server[0]}:{server[1]} failed: {exc}") from None
    if reply.header.rcode != RCODE.NOERROR:
        raise LookupFailed(f"{qtype} query for {qname}: {RCODE.get(reply.header.rcode)}")
    found: list[str] = []
    has_address = False
    for rr in reply.rr:
        if rr.rtype == QTYPE.TXT and kind == "txt":
            found.append(b"".join(rr.rdata.data).decode(errors="replace"))
        elif rr.rtype == QTYPE.CNAME and kind == "cname":
            found.append(str(rr.rdata.label))
        elif rr.rtype == QTYPE.MX and kind == "mx":
            found.append(f"{rr.rdata.label}/{rr.rdata.preference}/")
        elif rr.rtype == QTYPE.PTR and kind == "address":
            found.append(str(rr.rdata.label))
        elif rr.rtype in (QTYPE.A, QTYPE.AAAA):
            has_address = True
    # As Go's LookupCNAME: a name with addresses and no CNAME is its own canonical name.
    if kind == "cname" and not found and (has_address or _has_address(name, server, tcp, timeout)):
        return [name.rstrip(".") + "."]
    if not found:
        raise LookupFailed(f"no {qtype} record for {qname}")
    return found


def _has_address(name: str, server: tuple[str, int], tcp: bool, timeout: float) -> bool:
    from dnslib import QTYPE, DNSRecord

    try:
        raw = DNSRecord.question(name, "A").send(server[0], server[1], tcp=tcp, timeout=max(0.05, timeout))
        return any(rr.rtype == QTYPE.A for rr in DNSRecord.parse(raw).rr)
    except Exception:
        return False


def reverse_system(address: str) -> list[str]:
    """The machine's names for `address` (its hosts file and resolver)."""
    try:
        host, aliases, _ = socket.gethostbyaddr(address)
    except (OSError, UnicodeError) as exc:
        raise LookupFailed(f"no name for {address}: {exc}") from None
    return [host.rstrip(".") + ".", *(a.rstrip(".") + "." for a in aliases)]
