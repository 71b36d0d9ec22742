"""TLS for the public HTTPS ports: SNI picks the domain's certificate, fetched when first named, without
ever blocking the event loop.

Python's SNI callback is synchronous: it runs inside the handshake, on the event loop, and cannot wait for
a certificate that has to come from auth. So the handshake runs over memory BIOs (`ssl.MemoryBIO`), in
`TlsProtocol`, and keeps the bytes of the client's hello until the server has answered it. When the
callback meets a name with no certificate at hand, it fails that attempt; the failure (an alert) is never
sent. The certificate is fetched as a task while other connections go on, then the handshake starts again
from the kept hello, on a fresh `SSLObject`, and this time the callback finds the certificate. The client
sees one handshake, slower by the fetch (and the issuance, for a new domain); nothing else waits.

A name with no certificate (no project serves it), a hello without a name (no SNI), plain HTTP sent to the
HTTPS port, and a handshake that takes longer than `HANDSHAKE_TIMEOUT` each end that connection with a
clear answer (a TLS alert, or for plain HTTP a plain-text 400 naming the https URL) and a log line; the
server goes on.

Sessions are resumed: TLS 1.3 tickets are issued by the server's one default context, whose ticket keys
every domain's context shares (OpenSSL keeps the session context of the connection's first context when
the SNI callback switches it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from dream.http.hosts import routed_host

log = logging.getLogger("dream.http.tls")

# Limits of the TLS side of a connection (docs/https.md, "Limits"); each is also a `Certificates` argument.
MAX_HELLO = 16 * 1024  # bytes kept of a client's hello before the server answers it: more is refused
HANDSHAKE_TIMEOUT = 10.0  # seconds from the connection to the end of the handshake: later is closed
REFUSED_FOR = 2.0  # seconds a name auth gave no certificate for is refused without asking again
FAILED_FOR = 1.0  # seconds a name whose certificate could not be fetched (auth away) is refused
REFRESH_AFTER = 300.0  # seconds a fetched certificate is used before it is fetched again (in the background)
# Plaintext bytes asked of the SSL object per read: one TLS record's most (16 KiB). `read(n)` allocates n
# bytes first; at 256 KiB that allocation cost tens of µs per read in some processes (docs/performance.md,
# HTTPS). A bigger body is read record by record in the same loop.
READ_SIZE = 16 * 1024

# (certificate chain PEM, key PEM) of a name, or None when no project serves it.
Fetch = Callable[[str], Awaitable[tuple[str, str] | None]]

_HELLO, _HANDSHAKE, _OPEN, _CLOSED = range(4)
_HTTP_METHODS = (b"GET ", b"HEAD", b"POST", b"PUT ", b"DELE", b"OPTI", b"PATC", b"CONN", b"TRAC")


class Certificates:
    """The certificates of an HTTPS port, one `ssl.SSLContext` per domain, fetched on first use."""

    def __init__(
        self,
        fetch: Fetch,
        folder: Path,
        *,
        max_hello: int = MAX_HELLO,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        refused_for: float = REFUSED_FOR,
        failed_for: float = FAILED_FOR,
        refresh_after: float = REFRESH_AFTER,
    ) -> None:
        self.max_hello = max_hello
        self.handshake_timeout = handshake_timeout
        self.refused_for = refused_for
        self.failed_for = failed_for
        self.refresh_after = refresh_after
        self.fetch = fetch
        self.folder = folder  # where a certificate is written for the moment ssl reads it (0700)
        self.contexts: dict[str, tuple[ssl.SSLContext, float]] = {}  # name → (context, fetched at)
        self.refused: dict[str, tuple[float, str]] = {}  # name → (until, why)
        self.loading: dict[str, asyncio.Task[None]] = {}
        self.fetched = 0  # certificates fetched (a second handshake for a name fetches none)
        self.default = self._context()
        self.default.sni_callback = self._sni
        # Set by `_sni` during a handshake attempt (one at a time: the loop runs them): what it lacked.
        self.missing: str | None = None
        self.failure: str | None = None

    @staticmethod
    def _context() -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
        return context

    def _sni(self, sslobj: Any, server_name: str | None, _: ssl.SSLContext) -> int | None:
        if not server_name:
            self.failure = (
                "the client named no domain (no SNI): reach a function at https://<fqdn>.localhost:<port>/ "
                "or give curl --resolve <fqdn>:<port>:127.0.0.1"
            )
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        name = routed_host(server_name)
        found = self.contexts.get(name)
        if found is not None:
            sslobj.context = found[0]
            if time.monotonic() - found[1] > self.refresh_after and name not in self.loading:
                self._load_soon(name)  # this handshake goes on with what it has
            return None
        refused = self.refused.get(name)
        if refused is not None and refused[0] > time.monotonic():
            self.failure = refused[1]
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        self.missing = name
        return ssl.ALERT_DESCRIPTION_HANDSHAKE_FAILURE  # never sent: the handshake starts again

    def _load_soon(self, name: str) -> asyncio.Task[None]:
        task = self.loading.get(name)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._load(name))
            self.loading[name] = task
            task.add_done_callback(lambda _: self.loading.pop(name, None))
        return task

    async def ready(self, name: str) -> None:
        """Fetch the certificate of `name` (once, however many handshakes wait for it)."""
        await asyncio.shield(self._load_soon(name))

    async def _load(self, name: str) -> None:
        try:
            found = await self.fetch(name)
        except Exception as exc:
            why = f"the certificate of {name} could not be fetched: {exc}"
            log.warning("%s", why)
            if name not in self.contexts:
                self.refused[name] = (time.monotonic() + self.failed_for, why)
            return
        if found is None:
            why = f"no certificate for {name}: it belongs to no project of this universe"
            log.info("%s", why)
            self.contexts.pop(name, None)
            self.refused[name] = (time.monotonic() + self.refused_for, why)
            return
        context = self._context()
        self._load_chain(context, *found)
        self.refused.pop(name, None)
        self.contexts[name] = (context, time.monotonic())
        self.fetched += 1

    def _load_chain(self, context: ssl.SSLContext, chain: str, key: str) -> None:
        """ssl reads certificates from files only: one private file, read and removed at once."""
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        path = self.folder / f"{secrets.token_hex(8)}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(key + chain)
            context.load_cert_chain(path)
        finally:
            path.unlink(missing_ok=True)


class TlsProtocol(asyncio.Protocol):
    """The TLS side of one HTTPS connection, in front of the HTTP connection (`inner`), which sees a
    transport (`TlsTransport`) it writes plain bytes to once the handshake is done."""

    def __init__(self, inner: asyncio.Protocol, certificates: Certificates) -> None:
        self.inner = inner
        self.certificates = certificates
        self.state = _HELLO
        self.hello = bytearray()
        self.fetching = False
        self.transport: Any = None
        self.sslobj: ssl.SSLObject | None = None
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.facade = TlsTransport(self)
        self.deadline: asyncio.TimerHandle | None = None
        self.peer = "an unknown client"

    # -- asyncio.Protocol -----------------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = f"{peer[0]}:{peer[1]}"
        self.deadline = asyncio.get_running_loop().call_later(
            self.certificates.handshake_timeout, self._too_slow
        )

    def data_received(self, data: bytes) -> None:
        if self.state == _OPEN:
            self._decrypt(data)
        elif self.state == _HELLO:
            self.hello += data
            if self.hello[:1] != b"\x16":  # a TLS handshake record starts with 22
                self._not_tls()
            elif len(self.hello) > self.certificates.max_hello:
                self._fail(f"its TLS hello is larger than {self.certificates.max_hello} bytes")
            elif not self.fetching:
                self._start()
        elif self.state == _HANDSHAKE:
            self.incoming.write(data)
            self._handshake()

    def eof_received(self) -> bool | None:
        if self.state == _OPEN:
            return self.inner.eof_received()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
        was_open = self.state == _OPEN
        self.state = _CLOSED
        if was_open:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.state == _OPEN:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.state == _OPEN:
            self.inner.resume_writing()

    # -- the handshake --------------------------------------------------------------------------------

    def _start(self) -> None:
        """A handshake attempt from the client's hello as received so far."""
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.sslobj = self.certificates.default.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.incoming.write(bytes(self.hello))
        self._handshake()

    def _handshake(self) -> None:
        assert self.sslobj is not None
        certificates = self.certificates
        certificates.missing = certificates.failure = None
        try:
            self.sslobj.do_handshake()
        except ssl.SSLWantReadError:
            answer = self.outgoing.read()
            if answer:  # the hello is answered: no attempt starts again from here
                self.state = _HANDSHAKE
                self.hello = bytearray()
                self.transport.write(answer)
            return
        except ssl.SSLError as exc:
            missing, failure = certificates.missing, certificates.failure
            certificates.missing = certificates.failure = None
            if missing is not None and self.state == _HELLO:
                self.outgoing.read()  # the alert of this attempt is dropped: another one follows
                self._fetch(missing)
                return
            self._fail(failure or f"TLS handshake failed: {exc.reason or exc}", alert=True)
            return
        except OSError as exc:
            self._fail(f"TLS handshake failed: {exc}")
            return
        self._opened()

    def _fetch(self, name: str) -> None:
        self.fetching = True
        task = asyncio.get_running_loop().create_task(self.certificates.ready(name))
        task.add_done_callback(self._fetched)

    def _fetched(self, task: asyncio.Task[None]) -> None:
        self.fetching = False
        if self.state != _HELLO or self.transport.is_closing():
            return
        if not task.cancelled() and task.exception() is not None:
            self._fail(f"its certificate could not be fetched: {task.exception()}")
            return
        self._start()  # the same hello again: now the name's certificate (or refusal) is at hand

    def _opened(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        self.state = _OPEN
        self.hello = bytearray()
        answer = self.outgoing.read()
        if answer:
            self.transport.write(answer)
        self.inner.connection_made(self.facade)
        self._decrypt(b"")  # what came with the client's last handshake message

    def _decrypt(self, data: bytes) -> None:
        sslobj = self.sslobj
        assert sslobj is not None
        if data:
            self.incoming.write(data)
        chunks = []
        closed = False
        incoming = self.incoming
        try:
            while True:
                chunk = sslobj.read(READ_SIZE)
                if not chunk:
                    closed = True
                    break
                chunks.append(chunk)
                if not incoming.pending and not sslobj.pending():
                    break  # all read: asking again would only raise SSLWantReadError
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:
            closed = True
        except ssl.SSLError as exc:
            log.info("TLS connection from %s ended: %s", self.peer, exc.reason or exc)
            self.transport.abort()
            return
        pending = self.outgoing.read()  # session tickets, key updates
        if pending:
            self.transport.write(pending)
        if chunks:
            self.inner.data_received(chunks[0] if len(chunks) == 1 else b"".join(chunks))
        if closed and self.state == _OPEN and not self.transport.is_closing():
            self.facade.close()

    # -- failures -------------------------------------------------------------------------------------

    def _fail(self, why: str, *, alert: bool = False) -> None:
        log.info("TLS handshake from %s refused: %s", self.peer, why)
        if alert:
            answer = self.outgoing.read()
            if answer:
                self.transport.write(answer)
        self.state = _CLOSED
        self.transport.close()

    def _not_tls(self) -> None:
        """Plain bytes on the HTTPS port: a plain HTTP answer saying where to go, when it looks like HTTP."""
        if self.hello[:4] in _HTTP_METHODS:
            body = (
                b"This port serves HTTPS: use an https:// URL (https://<fqdn>.localhost:<this port>/...).\n"
            )
            self.transport.write(
                b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
            )
            why = "it sent plain HTTP to the HTTPS port (answered 400)"
        else:
            why = "it sent bytes that are not TLS"
        log.info("connection from %s closed: %s", self.peer, why)
        self.state = _CLOSED
        self.transport.close()

    def _too_slow(self) -> None:
        self.deadline = None
        if self.state in (_HELLO, _HANDSHAKE):
            log.info(
                "TLS handshake from %s took more than %gs: closed",
                self.peer,
                self.certificates.handshake_timeout,
            )
            self.state = _CLOSED
            self.transport.abort()


class TlsTransport(asyncio.Transport):
    """What the HTTP connection writes to: plain bytes in, TLS records out on the real transport."""

    def __init__(self, tls: TlsProtocol) -> None:
        super().__init__()
        self.tls = tls

    def write(self, data: bytes | bytearray | memoryview) -> None:
        tls = self.tls
        if tls.state != _OPEN or tls.sslobj is None:
            return
        tls.sslobj.write(data)
        tls.transport.write(tls.outgoing.read())

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def is_closing(self) -> bool:
        return bool(self.tls.transport.is_closing())

    def close(self) -> None:
        tls = self.tls
        if tls.state == _OPEN and tls.sslobj is not None:
            with contextlib.suppress(ssl.SSLError, OSError):
                tls.sslobj.unwrap()  # close_notify
            pending = tls.outgoing.read()
            if pending and not tls.transport.is_closing():
                tls.transport.write(pending)
        tls.transport.close()

    def abort(self) -> None:
        self.tls.transport.abort()

    def can_write_eof(self) -> bool:
        return False  # TLS cannot half-close: a refusal closes the connection once written

    def write_eof(self) -> None:
        raise NotImplementedError("TLS connections cannot half-close")

    def pause_reading(self) -> None:
        self.tls.transport.pause_reading()

    def resume_reading(self) -> None:
        self.tls.transport.resume_reading()

    def is_reading(self) -> bool:
        return bool(self.tls.transport.is_reading())

    def get_write_buffer_size(self) -> int:
        return int(self.tls.transport.get_write_buffer_size())

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.tls.transport.set_write_buffer_limits(high, low)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self.tls.sslobj
        return self.tls.transport.get_extra_info(name, default)
