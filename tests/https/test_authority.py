"""The certificate authority's lifetimes and renewal at their limits, and the ACME server's nonce limit."""

from __future__ import annotations

import datetime
import logging
from pathlib import Path

from cryptography import x509

from dream.auth.acme import MAX_NONCES, Acme
from dream.node.store import KVStore
from dream.tls.authority import DOMAIN_DAYS, ISSUER_DAYS, RENEW_BEFORE, Issued, home_root


def test_lifetimes_and_constraints(tmp_path: Path) -> None:
    root = home_root(tmp_path)
    issuer = root.issuer_for("u")
    issued = issuer.issue(["a.example.com", "a.example.com.localhost"])
    leaf, middle = x509.load_pem_x509_certificates(issued.certificate.encode())
    assert middle.subject == issuer.cert.subject  # the chain served: the leaf, then the issuer (no root)
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert lifetime == datetime.timedelta(days=DOMAIN_DAYS, hours=1)  # backdated an hour
    issuer_life = middle.not_valid_after_utc - middle.not_valid_before_utc
    assert issuer_life == datetime.timedelta(days=ISSUER_DAYS, hours=1)
    assert middle.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_a_certificate_is_due_exactly_renew_before_its_end(tmp_path: Path) -> None:
    issued = home_root(tmp_path).issuer_for("u").issue(["a.example.com"])
    end = datetime.datetime.fromisoformat(issued.not_after)
    assert not issued.due(end - RENEW_BEFORE - datetime.timedelta(seconds=1))
    assert issued.due(end - RENEW_BEFORE)
    assert Issued(**{**issued.__dict__, "not_after": "2020-01-01T00:00:00+00:00"}).due()


def test_acme_forgets_the_oldest_nonce_past_max_nonces(tmp_path: Path) -> None:
    kv = KVStore(tmp_path / "node.db")
    try:
        acme = Acme(kv, None, None, logging.getLogger("test"))  # type: ignore[arg-type]
        first = acme._nonce()
        rest = [acme._nonce() for _ in range(MAX_NONCES - 1)]
        assert first in acme.nonces and len(acme.nonces) == MAX_NONCES
        acme._nonce()
        assert first not in acme.nonces and rest[0] in acme.nonces and len(acme.nonces) == MAX_NONCES
    finally:
        kv.close()
