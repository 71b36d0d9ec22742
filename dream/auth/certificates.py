"""Auth's X.509 certificates: one per domain of a project (covering its `.localhost` twin too), issued on
first use or when a domain is published, kept in the node's store and re-issued when it is due.

A domain gets a certificate only when it belongs to a project of this universe: registered with auth
(`/auth/domains`) or served by a published config (tns `domains/<reversed fqdn>/links`). Any other name is
refused and nothing is issued, so a TLS client cannot make auth sign names at will.

The issuer (an intermediate of the dream home's root) is written into the node's folder by the daemon
before the node starts (`dream.tls.authority`); auth never sees the root's key.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dream.clients.tns import TnsClient
from dream.errors import DreamError
from dream.http.hosts import localhost_twin, strip_localhost
from dream.tcc import tns_keys

if TYPE_CHECKING:
    from dream.auth.store import AuthStore
    from dream.node.peers import PeerClient
    from dream.node.store import KVStore
    from dream.tls.authority import Authority, Issued

PREFIX = "/certificates/"
# How long auth waits on tns for changes before asking again (seconds), and after a failure.
CHANGES_WAIT = 25.0
RETRY = 1.0


class NotAProjectDomain(DreamError):
    """A name no project of the universe serves: no certificate is issued for it."""


class Certificates:
    def __init__(
        self, kv: KVStore, auth: AuthStore, peers: PeerClient, issuer_dir: Path, log: logging.Logger
    ) -> None:
        self.kv = kv
        self.auth = auth
        self.tns = TnsClient(peers)
        self.issuer_dir = issuer_dir
        self.log = log
        self._issuer: Authority | None = None
        self._issuing: dict[str, asyncio.Future[Issued]] = {}
        self.issued = 0  # certificates issued by this process (health)
        # The last tns change whose published domains have their certificates (health): a caller that
        # published a config knows auth is done with it once this reaches the seq tns gave the publish.
        self.followed = 0

    def issuer(self) -> Authority:
        if self._issuer is None:
            # cryptography is loaded on the first certificate, not when auth starts.
            from dream.tls.authority import Authority

            self._issuer = Authority.load_issuer(self.issuer_dir)
        return self._issuer

    # -- the store ------------------------------------------------------------------------------------

    def stored(self, fqdn: str) -> Issued | None:
        from dream.tls.authority import Issued

        data = self.kv.get_json(PREFIX + fqdn)
        return Issued(**data) if isinstance(data, dict) else None

    def listing(self) -> list[dict[str, Any]]:
        """Every kept certificate, without its key."""
        found = []
        for key, value in self.kv.items(PREFIX):
            record = json.loads(value)
            found.append({"fqdn": key[len(PREFIX) :], **{k: v for k, v in record.items() if k != "key"}})
        return found

    def delete(self, fqdn: str) -> bool:
        return self.kv.delete(PREFIX + strip_localhost(fqdn.lower().rstrip(".")))

    # -- issuing --------------------------------------------------------------------------------------

    async def belongs_to_a_project(self, fqdn: str) -> bool:
        if self.auth.domain(fqdn) is not None:
            return True
        return await self.tns.domain_is_linked(fqdn)

    async def certificate(self, name: str, asker: str = "a caller") -> tuple[Issued, bool]:
        """(the certificate of `name` or of the domain it is the `.localhost` twin of, whether it was
        issued by this call). `asker` is named in the log line of an issuance. Raises NotAProjectDomain
        for a name no project serves."""
        fqdn = strip_localhost(name.lower().rstrip("."))
        kept = self.stored(fqdn)
        if kept is not None and not kept.due():
            return kept, False
        # One issuance per domain at a time: handshakes racing for a new domain share it.
        pending = self._issuing.get(fqdn)
        if pending is not None:
            return await asyncio.shield(pending), False
        future: asyncio.Future[Issued] = asyncio.get_running_loop().create_future()
        self._issuing[fqdn] = future
        try:
            if not await self.belongs_to_a_project(fqdn):
                raise NotAProjectDomain(
                    f"{fqdn} belongs to no project of this universe (neither registered with auth nor "
                    f"served by a published config): no certificate is issued for it"
                )
            issued = self.issuer().issue([fqdn, localhost_twin(fqdn)])
            self.kv.put_json(PREFIX + fqdn, asdict(issued))
            self.issued += 1
            why = "renewed (it was due)" if kept is not None else "issued"
            self.log.info(
                "certificate for %s %s for %s: serial %s, until %s",
                fqdn,
                why,
                asker,
                issued.serial,
                issued.not_after,
            )
            future.set_result(issued)
            return issued, True
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: racing callers get it through the shield
            raise
        finally:
            del self._issuing[fqdn]

    # -- ahead of time --------------------------------------------------------------------------------

    async def follow_published(self) -> None:
        """Issue the certificate of each domain a config publishes, as soon as tns has it (runs until
        cancelled): the first handshake of a new domain then finds it ready."""
        # From the start of tns's change log, not from its current end: a domain published while this
        # auth was starting (or down) is issued too; domains already kept are skipped below.
        seq = 0  # tns numbers its changes from 1
        while True:
            try:
                answer = await self.tns.changes(seq, wait=CHANGES_WAIT, timeout=CHANGES_WAIT + 10)
            except Exception as exc:  # tns not up yet, or gone for a moment
                self.log.debug("following tns for published domains: %s", exc)
                await asyncio.sleep(RETRY)
                continue
            seq = answer["seq"]
            for _, path in answer["changes"]:
                fqdn = published_domain(str(path))
                if fqdn is None or self.stored(fqdn) is not None:
                    continue
                try:
                    await self.certificate(fqdn, "its published config (ahead of time)")
                except DreamError as exc:
                    self.log.info("no certificate ahead of time for %s: %s", fqdn, exc)
            self.followed = seq


def published_domain(path: str) -> str | None:
    """The domain a tns change path `domains/<reversed fqdn>/links` publishes, if it is one."""
    parts = tns_keys.split_key(path)
    if len(parts) < 3 or parts[0] != "domains" or parts[-1] != "links":
        return None
    return ".".join(reversed(parts[1:-1]))
