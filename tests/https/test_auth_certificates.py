"""Auth issues, keeps and serves the certificate of each domain of a project (with its `.localhost` twin),
signed through the universe's issuer by the dream home's root; a name of no project gets nothing."""

from __future__ import annotations

import asyncio
import logging
import stat
from dataclasses import asdict
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from dream.auth.certificates import PREFIX, Certificates
from dream.auth.store import AuthStore
from dream.clients.base import ServiceError
from dream.node.peers import PeerClient
from dream.node.store import KVStore
from dream.tcc import tns_keys
from dream.testing.harness import wait_for
from dream.tls.authority import home_root
from dream.tls.paths import ISSUER_DIR, ISSUER_KEY
from tests.https.conftest import Web
from tests.services.node_clients import call

pytestmark = pytest.mark.e2e


def names_of(pem: str) -> tuple[str, list[str]]:
    cert = x509.load_pem_x509_certificates(pem.encode())[0]
    subject = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return str(subject), alt.get_values_for_type(x509.DNSName)


@pytest.mark.parametrize("which", ["generated", "registered"])
def test_a_project_domain_gets_one_certificate_kept_across_asks(web: Web, which: str) -> None:
    fqdn = getattr(web, which)
    first = call(web.universe, lambda c: c.auth.certificate(fqdn))
    again = call(web.universe, lambda c: c.auth.certificate(f"{fqdn}.localhost"))
    assert names_of(first["certificate"]) == (fqdn, [fqdn, f"{fqdn}.localhost"])
    assert again["serial"] == first["serial"] and not again["issued"]
    assert first["key"].startswith("-----BEGIN PRIVATE KEY-----")
    listed = {c["fqdn"]: c for c in call(web.universe, lambda c: c.auth.certificates())}
    assert listed[fqdn]["serial"] == first["serial"] and "key" not in listed[fqdn]


def test_the_chain_leads_to_the_homes_root(web: Web, dream_daemon) -> None:  # type: ignore[no-untyped-def]
    got = call(web.universe, lambda c: c.auth.certificate(web.registered))
    leaf, issuer = x509.load_pem_x509_certificates(got["certificate"].encode())
    root = x509.load_pem_x509_certificate((Path(dream_daemon.home) / "ca" / "root.pem").read_bytes())
    leaf.verify_directly_issued_by(issuer)
    issuer.verify_directly_issued_by(root)
    assert issuer.subject.rfc4514_string() == f"CN=dream universe {web.universe.name} issuer,O=dream"


def test_the_issuer_key_is_the_auth_nodes_own_and_private(web: Web) -> None:
    root = Path(web.universe.client.status()[web.universe.name]["root"])
    (key,) = root.glob(f"auth-*/{ISSUER_DIR}/{ISSUER_KEY}")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert not list(root.glob(f"*/{ISSUER_DIR}/root-key.pem")) and not list(root.rglob("root-key.pem"))


def test_a_name_of_no_project_gets_nothing(web: Web) -> None:
    before = call(web.universe, lambda c: c.auth.certificates())
    with pytest.raises(ServiceError) as refused:
        call(web.universe, lambda c: c.auth.certificate("nobody.example.com"))
    assert refused.value.not_found
    assert "nobody.example.com belongs to no project of this universe" in str(refused.value)
    assert call(web.universe, lambda c: c.auth.certificates()) == before


def test_a_deleted_certificate_is_issued_again(web: Web) -> None:
    first = call(web.universe, lambda c: c.auth.certificate(web.registered))
    assert call(web.universe, lambda c: c.auth.delete_certificate(web.registered))
    issued = web.universe.health("auth")["certificates_issued"]
    second = call(web.universe, lambda c: c.auth.certificate(web.registered))
    assert second["serial"] != first["serial"]
    assert web.universe.health("auth")["certificates_issued"] == issued + 1
    # The log line names whom it was issued for: the peer that asked (here the test's client).
    log = web.universe.client.logs(web.universe.name, "auth")["text"]
    assert f"certificate for {web.registered} issued for test: serial {second['serial']}" in log


def test_a_published_domain_gets_its_certificate_ahead_of_time(web: Web) -> None:
    fqdn = "ahead.computers.com"
    # What a config job publishes for each of its domains (dream.tcc.tns_keys.domain_links_key).
    seq = call(web.universe, lambda c: c.tns.push(tns_keys.domain_links_key(fqdn), ["published"]))

    def issued() -> bool:
        return fqdn in {c["fqdn"] for c in call(web.universe, lambda c: c.auth.certificates())}

    wait_for(issued, f"auth to issue the certificate of {fqdn} once published", timeout=30)
    # Auth says how far it has read tns's changes: a publisher waits on it to know auth is done.
    wait_for(
        lambda: web.universe.health("auth")["certificates_followed_tns_seq"] >= seq,
        "auth to say it has read the publish",
        timeout=30,
    )
    log = web.universe.client.logs(web.universe.name, "auth")["text"]
    assert f"certificate for {fqdn} issued for its published config (ahead of time)" in log


def test_an_expired_certificate_is_issued_again(tmp_path: Path) -> None:
    """Auth's own logic over a real store and issuer: a kept certificate past its end is replaced."""
    kv = KVStore(tmp_path / "node.db")
    auth = AuthStore(kv)
    auth.register_domain("old.example.com", "QmProject")
    home_root(tmp_path).issuer_for("u").save_issuer(tmp_path / ISSUER_DIR)
    peers = PeerClient(secret=b"k" * 32, peer="test", universe_id="u", universe="u", registries=[], timeout=1)
    certificates = Certificates(kv, auth, peers, tmp_path / ISSUER_DIR, logging.getLogger("test"))
    first, new = asyncio.run(certificates.certificate("old.example.com"))
    assert new and not first.due()
    kv.put_json(PREFIX + "old.example.com", {**asdict(first), "not_after": "2020-01-01T00:00:00+00:00"})
    assert certificates.stored("old.example.com").due()  # type: ignore[union-attr]
    second, new = asyncio.run(certificates.certificate("old.example.com.localhost"))
    assert new and second.serial != first.serial and not second.due()
    kv.close()
