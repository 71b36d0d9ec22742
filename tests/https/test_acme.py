"""ACME (RFC 8555) end to end with certbot's `acme` client package: a new account, a new order for a domain
of the universe, the http-01 challenge answered by the gateway, finalize, and a certificate chaining to the
dream home's root; then what the server refuses, each with its ACME error."""

from __future__ import annotations

import datetime
from pathlib import Path

import httpx
import josepy as jose
import pytest
from acme import challenges, client, crypto_util, messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from dream.testing.harness import DaemonProcess
from tests.https.conftest import Web

pytestmark = pytest.mark.e2e


def acme_client(web: Web) -> client.ClientV2:
    key = jose.JWKRSA(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    net = client.ClientNetwork(key, user_agent="dream-tests")
    directory = client.ClientV2.get_directory(f"http://127.0.0.1:{web.port('auth')}/acme/directory", net)
    acme = client.ClientV2(directory, net=net)
    acme.new_account(
        messages.NewRegistration.from_data(email="dev@example.com", terms_of_service_agreed=True)
    )
    return acme


def csr_for(*names: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return crypto_util.make_csr(pem, list(names))


def answer_http01(acme: client.ClientV2, order: messages.OrderResource) -> None:
    for authz in order.authorizations:
        (challenge,) = [c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01)]
        acme.answer_challenge(challenge, challenge.chall.response(acme.net.key))


@pytest.mark.parametrize("which", ["generated", "registered"])
def test_a_standard_acme_client_gets_a_certificate(web: Web, dream_daemon: DaemonProcess, which: str) -> None:
    fqdn = getattr(web, which)
    acme = acme_client(web)
    order = acme.new_order(csr_for(fqdn))
    answer_http01(acme, order)
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=60)
    done = acme.poll_and_finalize(order, deadline)
    leaf, issuer = x509.load_pem_x509_certificates(done.fullchain_pem.encode())
    root = x509.load_pem_x509_certificate((Path(dream_daemon.home) / "ca" / "root.pem").read_bytes())
    leaf.verify_directly_issued_by(issuer)
    issuer.verify_directly_issued_by(root)
    alt = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert alt.get_values_for_type(x509.DNSName) == [fqdn]


def test_the_gateway_serves_the_challenge_only_while_it_is_pending(web: Web) -> None:
    acme = acme_client(web)
    order = acme.new_order(csr_for(web.registered))
    (challenge,) = order.authorizations[0].body.challenges
    token = challenge.chall.encode("token")
    gateway = f"http://127.0.0.1:{web.port('gateway')}/.well-known/acme-challenge/"
    unknown = httpx.get(gateway + "nothing-here", headers={"host": web.registered})
    assert unknown.status_code == 404 and "no ACME challenge 'nothing-here' is pending" in unknown.text
    answer_http01(acme, order)
    served = httpx.get(gateway + token, headers={"host": web.registered})
    assert served.status_code == 200
    assert served.text == challenge.chall.validation(acme.net.key)


def test_a_domain_of_no_project_is_rejected(web: Web) -> None:
    acme = acme_client(web)
    with pytest.raises(messages.Error) as refused:
        acme.new_order(csr_for("nobody.example.com"))
    assert refused.value.code == "rejectedIdentifier"
    assert "nobody.example.com belongs to no project of this universe" in str(refused.value.detail)


def test_finalizing_before_validation_or_with_other_names_is_refused(web: Web) -> None:
    acme = acme_client(web)
    order = acme.new_order(csr_for(web.registered))
    with pytest.raises(messages.Error) as early:
        acme.begin_finalization(order)
    assert early.value.code == "orderNotReady"
    answer_http01(acme, order)
    other = order.update(csr_pem=csr_for(web.registered, web.generated))
    with pytest.raises(messages.Error) as mismatch:
        acme.begin_finalization(other)
    assert mismatch.value.code == "badCSR" and "they must be the same" in str(mismatch.value.detail)


def test_a_replayed_or_forged_request_is_refused(web: Web) -> None:
    url = f"http://127.0.0.1:{web.port('auth')}/acme/new-order"
    garbage = httpx.post(url, content=b"not a jws", headers={"content-type": "application/jose+json"})
    assert garbage.status_code == 400 and garbage.json()["type"] == "urn:ietf:params:acme:error:malformed"
    assert garbage.headers["replay-nonce"]
    acme = acme_client(web)
    nonce = acme.net._get_nonce(url, acme.directory.newNonce)  # a nonce used once ...
    body = acme.net._wrap_in_jws(messages.NewOrder(identifiers=()), nonce, url)
    first = httpx.post(url, content=body, headers={"content-type": "application/jose+json"})
    again = httpx.post(url, content=body, headers={"content-type": "application/jose+json"})  # ... and again
    assert first.status_code == 400 and first.json()["type"].endswith("malformed")  # no identifiers
    assert again.status_code == 400 and again.json()["type"] == "urn:ietf:params:acme:error:badNonce"
