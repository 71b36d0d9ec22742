"""HTTPS on the substrate and the gateway: curl and httpx trusting the dream CA get PONG for a generated and
a registered domain; the certificate names the domain; a second handshake fetches and issues nothing; bad
handshakes fail clearly and the node keeps serving."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from dream.testing.harness import DaemonProcess
from tests.https.conftest import Web, localhost_get
from tests.services.node_clients import call

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ca(dream_daemon: DaemonProcess) -> Path:
    return Path(dream_daemon.home) / "ca" / "root.pem"


def trusting(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def handshake(port: int, name: str | None, ca: Path) -> tuple[x509.Certificate, ssl.SSLSocket]:
    """A TLS connection to 127.0.0.1:port naming `name` (no SNI for None): the server's certificate."""
    context = trusting(ca)
    if name is None:
        context.check_hostname = False
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock = context.wrap_socket(raw, server_hostname=name)
    der = sock.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der), sock


def curl(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "30", *args, url],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("node", ["substrate", "gateway"])
@pytest.mark.parametrize("which", ["generated", "registered"])
def test_pong_over_https_with_curl_and_httpx(web: Web, ca: Path, node: str, which: str) -> None:
    fqdn = getattr(web, which)
    port = web.port(node, "https")
    for name in (fqdn, f"{fqdn}.localhost"):
        url = f"https://{name}:{port}/ping"
        # curl maps *.localhost to loopback itself; the bare fqdn is told where to go.
        resolve = [] if name.endswith(".localhost") else ["--resolve", f"{name}:{port}:127.0.0.1"]
        answered = curl(url, "--cacert", str(ca), *resolve)
        assert answered.stdout == "PONG", answered.stderr
    response = localhost_get(f"https://{fqdn}.localhost:{port}/ping", verify=trusting(ca))
    assert (response.status_code, response.text) == (200, "PONG")
    assert response.http_version == "HTTP/1.1"


@pytest.mark.parametrize("which", ["generated", "registered"])
def test_the_certificate_is_the_domains(web: Web, ca: Path, which: str) -> None:
    fqdn = getattr(web, which)
    cert, sock = handshake(web.port("substrate", "https"), f"{fqdn}.localhost", ca)
    sock.close()
    common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert common == fqdn
    assert alt.get_values_for_type(x509.DNSName) == [fqdn, f"{fqdn}.localhost"]


def test_a_second_handshake_issues_and_fetches_nothing(web: Web, ca: Path) -> None:
    port = web.port("gateway", "https")
    first, sock = handshake(port, web.registered, ca)
    sock.close()
    before = call(web.universe, lambda c: c.auth.certificates())
    issued = web.universe.health("auth")["certificates_issued"]
    second, sock = handshake(port, f"{web.registered}.localhost", ca)
    sock.close()
    assert second.serial_number == first.serial_number
    assert call(web.universe, lambda c: c.auth.certificates()) == before
    assert web.universe.health("auth")["certificates_issued"] == issued


def test_sessions_are_resumed(web: Web, ca: Path) -> None:
    port = web.port("substrate", "https")
    context = trusting(ca)
    name = f"{web.registered}.localhost"

    def get(session: ssl.SSLSession | None) -> tuple[ssl.SSLSession | None, bool]:
        raw = socket.create_connection(("127.0.0.1", port), timeout=30)
        with context.wrap_socket(raw, server_hostname=name, session=session) as sock:
            sock.sendall(f"GET /ping HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            assert answer.endswith(b"PONG"), answer
            return sock.session, sock.session_reused

    session, reused = get(None)
    assert not reused and session is not None
    _, reused = get(session)
    assert reused


def test_an_unknown_name_fails_the_handshake_and_nothing_is_issued(web: Web, ca: Path) -> None:
    before = call(web.universe, lambda c: c.auth.certificates())
    for node in ("substrate", "gateway"):
        port = web.port(node, "https")
        with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
            handshake(port, "nobody.example.com.localhost", ca)
        answered = curl(f"https://nobody.example.com.localhost:{port}/ping", "--cacert", str(ca))
        assert answered.returncode != 0 and "unrecognized name" in answered.stderr
    assert call(web.universe, lambda c: c.auth.certificates()) == before
    assert (
        localhost_get(f"https://{web.registered}.localhost:{port}/ping", verify=trusting(ca)).text == "PONG"
    )


def test_no_sni_fails_the_handshake(web: Web, ca: Path) -> None:
    port = web.port("substrate", "https")
    with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
        handshake(port, None, ca)
    answered = curl(f"https://127.0.0.1:{port}/ping", "--cacert", str(ca))
    assert answered.returncode != 0
    assert (
        localhost_get(f"https://{web.registered}.localhost:{port}/ping", verify=trusting(ca)).text == "PONG"
    )


def test_plain_http_on_the_https_port_is_told_to_use_https(web: Web, ca: Path) -> None:
    for node in ("substrate", "gateway"):
        port = web.port(node, "https")
        response = httpx.get(f"http://127.0.0.1:{port}/ping", headers={"host": web.registered})
        assert response.status_code == 400
        assert "This port serves HTTPS: use an https:// URL" in response.text
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"\x00\x01garbage\r\n\r\n")
            assert sock.recv(100) == b""  # closed without an answer
        assert (
            localhost_get(f"https://{web.registered}.localhost:{port}/ping", verify=trusting(ca)).text
            == "PONG"
        )


def test_a_deleted_certificate_is_issued_again_on_the_next_first_handshake(web: Web, ca: Path) -> None:
    fqdn = web.generated
    port = web.port("substrate", "https")
    first, sock = handshake(port, fqdn, ca)  # the substrate has the certificate at hand from now on
    sock.close()
    kept = call(web.universe, lambda c: c.auth.certificate(fqdn))
    assert f"{first.serial_number:x}" == kept["serial"]
    assert call(web.universe, lambda c: c.auth.delete_certificate(fqdn))
    issued = web.universe.health("auth")["certificates_issued"]
    # A node that already serves the domain keeps its certificate (valid: it was not revoked) ...
    served, sock = handshake(port, fqdn, ca)
    sock.close()
    assert served.serial_number == first.serial_number
    # ... and the next node to need it gets a new one from auth, issued once, after the deletion.
    fresh = call(web.universe, lambda c: c.auth.certificate(fqdn))
    assert fresh["serial"] != kept["serial"]
    assert web.universe.health("auth")["certificates_issued"] == issued + 1


def test_https_functions_answer_over_plain_http_as_upstream_does(web: Web) -> None:
    # `ping` declares `trigger.type: https`; upstream's substrate serves such functions on its HTTP
    # port too (the trigger type names the family, not a scheme): no redirect, no refusal.
    response = localhost_get(f"http://{web.registered}.localhost:{web.port('substrate')}/ping")
    assert (response.status_code, response.text) == (200, "PONG")


@pytest.mark.parametrize("node", ["substrate", "gateway"])
def test_status_shows_the_https_port(web: Web, dream_daemon: DaemonProcess, node: str) -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "dream", "status", node, web.universe.name],
        env={**dream_daemon.env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    port = web.port(node, "https")
    assert f"@ https://<fqdn>.localhost:{port}" in shown.stdout
    assert re.search(rf"https\s*│\s*{port}", shown.stdout), shown.stdout
