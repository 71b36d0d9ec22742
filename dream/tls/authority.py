"""The local certificate authority: a root per dream home, an issuer per universe, a certificate per domain.

Trust flows root → issuer → domain. The root's key stays in the home (`ca/root-key.pem`, mode 0600) and
is read only by the daemon and `dream ca`; each universe's auth nodes get an issuer of their own (an
intermediate certificate, `pathlen=0`, with its key, 0600 in the node's folder), so no node ever holds the
key a browser was told to trust, and an issuer is dropped with its universe. Keys are ECDSA P-256: quick to
make and to sign with, and what browsers prefer.
"""

from __future__ import annotations

import datetime
import fcntl
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dream.errors import DreamError
from dream.tls.paths import CA_DIR, ISSUER_CERT, ISSUER_KEY, ROOT_CERT, ROOT_KEY

# Lifetimes. A domain's certificate is renewed by auth when less than RENEW_BEFORE is left.
ROOT_DAYS = 3650
ISSUER_DAYS = 365
DOMAIN_DAYS = 90
RENEW_BEFORE = datetime.timedelta(days=7)
# Clocks of other programs may run a little behind: certificates start being valid this much earlier.
BACKDATE = datetime.timedelta(hours=1)
# What the root and the universes' issuers may do: sign certificates (and revocation lists), nothing else.
_CA_USAGE = x509.KeyUsage(
    digital_signature=True,
    key_cert_sign=True,
    crl_sign=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    encipher_only=False,
    decipher_only=False,
)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write a key readable by its owner only (made 0600 before a byte is written), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    part = path.with_name(path.name + f".{os.getpid()}.part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(part, path)


def _write_public(path: Path, data: bytes) -> None:
    part = path.with_name(path.name + f".{os.getpid()}.part")
    part.write_bytes(data)
    os.chmod(part, 0o644)
    os.replace(part, path)


@dataclass(frozen=True)
class Authority:
    """A certificate that may sign others, with its key (and the chain above it, root last)."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def name(self) -> str:
        return self.cert.subject.rfc4514_string()

    def chain_pem(self) -> bytes:
        """This certificate and those above it, PEM, root last."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (self.cert, *self.chain))

    def issuer_for(self, universe: str) -> Authority:
        """A new issuing authority for a universe's auth nodes, signed by this (root) authority."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dream"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"dream universe {universe} issuer"),
            ]
        )
        cert = (
            self._builder(subject, key.public_key(), ISSUER_DAYS)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_CA_USAGE, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return Authority(cert, key, (self.cert, *self.chain))

    def issue(self, names: list[str]) -> Issued:
        """A server certificate for `names` (the first is the subject's common name), with a new key."""
        if not names:
            raise DreamError("a certificate needs at least one name")
        key = ec.generate_private_key(ec.SECP256R1())
        return self.sign_request(names, key.public_key(), key=_key_pem(key))

    def sign_request(self, names: list[str], public_key: object, *, key: bytes = b"") -> Issued:
        """A server certificate for `names` and a public key someone else holds (ACME's CSR)."""
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
        alt: list[x509.GeneralName] = []
        for name in names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alt.append(x509.DNSName(name))
        cert = (
            self._builder(subject, public_key, DOMAIN_DAYS)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_encipherment=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    content_commitment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        chain = b"".join(
            c.public_bytes(serialization.Encoding.PEM) for c in (cert, self.cert, *self.chain[:-1])
        )  # the root is left out: a client has it, or it would not trust the chain
        return Issued(
            names=list(names),
            certificate=chain.decode(),
            key=key.decode(),
            serial=f"{cert.serial_number:x}",
            not_after=cert.not_valid_after_utc.isoformat(),
        )

    def _builder(self, subject: x509.Name, public_key: object, days: int) -> x509.CertificateBuilder:
        now = _now()
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(min(now + datetime.timedelta(days=days), self.cert.not_valid_after_utc))
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
        )

    # -- kept on disk ---------------------------------------------------------------------------------

    def save_issuer(self, folder: Path) -> None:
        """Write this issuer (certificate chain without the root, and key) into `folder`."""
        _write_private(folder / ISSUER_KEY, _key_pem(self.key))
        chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (self.cert, *self.chain))
        _write_public(folder / ISSUER_CERT, chain)

    @classmethod
    def load_issuer(cls, folder: Path) -> Authority:
        try:
            certs = x509.load_pem_x509_certificates((folder / ISSUER_CERT).read_bytes())
            key = serialization.load_pem_private_key((folder / ISSUER_KEY).read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise DreamError(
                f"no usable certificate issuer in {folder} ({exc}); the daemon writes it when it starts "
                f"the universe: restart the universe"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise DreamError(f"the issuer key in {folder} is not an ECDSA key; restart the universe")
        return cls(certs[0], key, tuple(certs[1:]))


@dataclass(frozen=True)
class Issued:
    """A certificate as auth keeps and serves it: the PEM chain (leaf first), its key (PEM, empty when the
    requester holds it), the names it covers, its serial (hex) and end of validity (ISO 8601, UTC)."""

    names: list[str]
    certificate: str
    key: str
    serial: str
    not_after: str

    def due(self, now: datetime.datetime | None = None) -> bool:
        """Whether it has expired or will within RENEW_BEFORE."""
        end = datetime.datetime.fromisoformat(self.not_after)
        return (now or _now()) + RENEW_BEFORE >= end


def root_paths(home: Path) -> tuple[Path, Path]:
    """(the root certificate, its key) of a dream home."""
    return home / CA_DIR / ROOT_CERT, home / CA_DIR / ROOT_KEY


def home_root(home: Path) -> Authority:
    """The dream home's root authority, made on first use and kept."""
    cert_path, key_path = root_paths(home)
    if not cert_path.exists():
        cert_path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(cert_path.parent, 0o700)
        # The daemon and `dream ca` may both make it at once: one does, under the lock.
        with open(cert_path.parent / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not cert_path.exists():
                _make_root(cert_path, key_path)
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise DreamError(
            f"the local certificate authority in {cert_path.parent} cannot be read ({exc}); move the "
            f"folder away and run `dream ca` to make a new one (then trust the new root again)"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise DreamError(f"{key_path} is not an ECDSA key; move {cert_path.parent} away and run `dream ca`")
    return Authority(cert, key)


def _make_root(cert_path: Path, key_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    # A name of its own per home: two homes' roots, both trusted, never mistake one for the other.
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dream"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"dream local CA {secrets.token_hex(4)}"),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=ROOT_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    # Key first, certificate last: a certificate on disk always has its key.
    _write_private(key_path, _key_pem(key))
    _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
