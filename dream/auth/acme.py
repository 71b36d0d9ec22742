"""A minimal ACME server (RFC 8555) on auth's HTTP port: what a standard ACME client (certbot's `acme`
package, lego, ...) needs to get a certificate for a domain of the universe from the dream CA.

  GET  /acme/directory                 the directory
  HEAD /acme/new-nonce (GET too)       a fresh Replay-Nonce
  POST /acme/new-account               JWS with `jwk`: the account of that key (201 new, 200 known)
  POST /acme/new-order                 {identifiers: [{type: dns, value}]}: an order, one authorization each
  POST /acme/order/{id}                POST-as-GET: the order
  POST /acme/authz/{id}                POST-as-GET: the authorization, with its http-01 challenge
  POST /acme/challenge/{id}            {}: validate now (http-01, through a gateway of the universe)
  POST /acme/finalize/{id}             {csr}: issue, for exactly the order's names
  POST /acme/cert/{id}                 POST-as-GET: the certificate chain (PEM)

Every POST is a JWS (flattened JSON) checked with `josepy`: its signature (by the account's key, or the
`jwk` of a new account), a nonce this server gave and has not seen back, and its `url`. Errors are
problem documents (`urn:ietf:params:acme:error:*`). Only dns identifiers of a project of this universe are
accepted (as for the certificates auth issues by itself); the http-01 challenge is answered by the
universe's gateway, which serves `/.well-known/acme-challenge/<token>` from what auth keeps here: the
validation is a real HTTP request for the domain through the gateway. Records are kept in the node's
store (`/acme/...`).
"""

from __future__ import annotations

import base64
import collections
import datetime
import json
import secrets
from typing import TYPE_CHECKING, Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dream.http.hosts import strip_localhost

if TYPE_CHECKING:
    import logging

    from dream.auth.certificates import Certificates
    from dream.node.peers import PeerClient
    from dream.node.store import KVStore

PREFIX = "/acme/"
ERROR = "urn:ietf:params:acme:error:"
PROBLEM = "application/problem+json"
# Nonces given and not yet used, the oldest forgotten first past this many.
MAX_NONCES = 4096
# How long an order and its authorizations may wait for validation and finalization.
ORDER_LIFETIME = datetime.timedelta(hours=1)
# How long the http-01 validation request through the gateway may take (seconds).
VALIDATION_TIMEOUT = 10.0
CHALLENGE_PATH = "/.well-known/acme-challenge/"


class Problem(Exception):
    def __init__(self, status: int, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.kind, self.detail = status, kind, detail


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _expires() -> str:
    return (datetime.datetime.now(datetime.UTC) + ORDER_LIFETIME).strftime("%Y-%m-%dT%H:%M:%SZ")


class Acme:
    def __init__(
        self, kv: KVStore, certificates: Certificates, peers: PeerClient, log: logging.Logger
    ) -> None:
        self.kv = kv
        self.certificates = certificates
        self.peers = peers
        self.log = log
        self.nonces: collections.OrderedDict[str, None] = collections.OrderedDict()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/acme/directory", self.directory, methods=["GET"]),
            Route("/acme/new-nonce", self.new_nonce, methods=["GET", "HEAD"]),
            Route("/acme/new-account", self._post(self.new_account), methods=["POST"]),
            Route("/acme/new-order", self._post(self.new_order), methods=["POST"]),
            Route("/acme/order/{id}", self._post(self.order), methods=["POST"]),
            Route("/acme/authz/{id}", self._post(self.authorization), methods=["POST"]),
            Route("/acme/challenge/{id}", self._post(self.challenge), methods=["POST"]),
            Route("/acme/finalize/{id}", self._post(self.finalize), methods=["POST"]),
            Route("/acme/cert/{id}", self._post(self.certificate), methods=["POST"]),
        ]

    # -- records --------------------------------------------------------------------------------------

    def _get(self, kind: str, record_id: str) -> dict[str, Any]:
        found = self.kv.get_json(f"{PREFIX}{kind}/{record_id}")
        if not isinstance(found, dict):
            raise Problem(404, "malformed", f"no {kind} {record_id} on this ACME server")
        return found

    def _put(self, kind: str, record_id: str, record: dict[str, Any]) -> None:
        self.kv.put_json(f"{PREFIX}{kind}/{record_id}", record)

    def key_authorization(self, token: str) -> str | None:
        """What `/.well-known/acme-challenge/<token>` must answer (None for a token never handed out)."""
        found = self.kv.get_json(f"{PREFIX}tokens/{token}")
        return str(found) if found else None

    # -- plain routes ---------------------------------------------------------------------------------

    def _nonce(self) -> str:
        nonce = _b64(secrets.token_bytes(16))
        self.nonces[nonce] = None
        while len(self.nonces) > MAX_NONCES:
            self.nonces.popitem(last=False)
        return nonce

    def _headers(self, request: Request, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            "replay-nonce": self._nonce(),
            "cache-control": "no-store",
            "link": f'<{self._url(request, "directory")}>;rel="index"',
            **(extra or {}),
        }

    @staticmethod
    def _url(request: Request, *parts: str) -> str:
        return str(request.base_url).rstrip("/") + "/acme/" + "/".join(parts)

    async def directory(self, request: Request) -> Response:
        return JSONResponse(
            {
                "newNonce": self._url(request, "new-nonce"),
                "newAccount": self._url(request, "new-account"),
                "newOrder": self._url(request, "new-order"),
                "meta": {"externalAccountRequired": False},
            }
        )

    async def new_nonce(self, request: Request) -> Response:
        status = 200 if request.method == "HEAD" else 204
        return Response(status_code=status, headers=self._headers(request))

    # -- JWS ------------------------------------------------------------------------------------------

    def _post(self, handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                payload, account, key = self._verify(request, await request.body())
                status, body, extra = await handler(request, payload, account, key)
            except Problem as problem:
                self.log.info("ACME %s refused: %s", request.url.path, problem.detail)
                return JSONResponse(
                    {"type": ERROR + problem.kind, "detail": problem.detail, "status": problem.status},
                    status_code=problem.status,
                    media_type=PROBLEM,
                    headers=self._headers(request),
                )
            headers = self._headers(request, extra)
            if isinstance(body, str):
                return Response(
                    body, status_code=status, media_type="application/pem-certificate-chain", headers=headers
                )
            return JSONResponse(body, status_code=status, headers=headers)

        return endpoint

    def _verify(self, request: Request, body: bytes) -> tuple[bytes, dict[str, Any] | None, Any]:
        """(payload, the signing account or None for a new key, its JWK) of a checked JWS."""
        import josepy as jose  # loaded on the first ACME request only

        try:
            jws = jose.JWS.json_loads(body)
            # The protected header as sent: ACME's fields (nonce, url, kid) are not josepy's.
            header = json.loads(jws.signature.protected)
            if not isinstance(header, dict):
                raise ValueError("the protected header is not an object")
        except (jose.DeserializationError, ValueError, TypeError, AttributeError) as exc:
            raise Problem(400, "malformed", f"the body is not a JWS in flattened JSON: {exc}") from None
        nonce = str(header.get("nonce") or "")
        if nonce not in self.nonces:
            raise Problem(400, "badNonce", "the nonce is unknown or was used already: get a new one")
        del self.nonces[nonce]
        if header.get("url") != str(request.url):
            raise Problem(400, "unauthorized", f"the JWS is for {header.get('url')}, not {request.url}")
        account: dict[str, Any] | None = None
        key: Any = None
        kid, jwk = header.get("kid"), header.get("jwk")
        try:
            if isinstance(kid, str) and kid:
                account = self._get("accounts", kid.rstrip("/").rsplit("/", 1)[-1])
                key = jose.JWK.from_json(account["jwk"])
            elif isinstance(jwk, dict):
                key = jose.JWK.from_json(jwk)
                if request.url.path != "/acme/new-account":
                    raise Problem(
                        400, "malformed", "only new-account is signed with a jwk: use the account's kid"
                    )
            else:
                raise Problem(400, "malformed", "the JWS names neither a kid nor a jwk")
        except jose.DeserializationError as exc:
            raise Problem(400, "badPublicKey", f"the JWS key cannot be read: {exc}") from None
        if not jws.verify(key):
            raise Problem(403, "unauthorized", "the JWS signature does not verify")
        return jws.payload, account, key

    @staticmethod
    def _json(payload: bytes) -> dict[str, Any]:
        try:
            found = json.loads(payload) if payload else {}
        except ValueError:
            raise Problem(400, "malformed", "the JWS payload is not JSON") from None
        if not isinstance(found, dict):
            raise Problem(400, "malformed", "the JWS payload is not a JSON object")
        return found

    @staticmethod
    def _thumbprint(key: Any) -> str:
        return _b64(key.thumbprint())  # SHA-256 (RFC 7638), as http-01 key authorizations use

    @staticmethod
    def _owned(record: dict[str, Any], account: dict[str, Any] | None) -> None:
        if account is None or record.get("account") != account["id"]:
            raise Problem(403, "unauthorized", "this resource belongs to another account")

    # -- accounts and orders --------------------------------------------------------------------------

    async def new_account(self, request: Request, payload: bytes, account: Any, key: Any) -> Any:
        asked = self._json(payload)
        account_id = self._thumbprint(key)[:22]
        location = {"location": self._url(request, "account", account_id)}
        existing = self.kv.get_json(f"{PREFIX}accounts/{account_id}")
        if isinstance(existing, dict):
            return 200, self._account_view(request, existing), location
        if asked.get("onlyReturnExisting"):
            raise Problem(400, "accountDoesNotExist", "no account has this key")
        record = {
            "id": account_id,
            "jwk": key.to_partial_json(),
            "contact": list(asked.get("contact") or []),
            "status": "valid",
        }
        self._put("accounts", account_id, record)
        self.log.info("ACME account %s created", account_id)
        return 201, self._account_view(request, record), location

    def _account_view(self, request: Request, record: dict[str, Any]) -> dict[str, Any]:
        return {
            "status": record["status"],
            "contact": record["contact"],
            "orders": self._url(request, "account", record["id"], "orders"),
        }

    async def new_order(self, request: Request, payload: bytes, account: Any, key: Any) -> Any:
        if account is None:
            raise Problem(403, "accountDoesNotExist", "sign new orders with an account's kid")
        identifiers = self._json(payload).get("identifiers")
        if not isinstance(identifiers, list) or not identifiers:
            raise Problem(400, "malformed", "a new order needs `identifiers`: [{type: dns, value}]")
        names: list[str] = []
        for item in identifiers:
            if (
                not isinstance(item, dict)
                or item.get("type") != "dns"
                or not isinstance(item.get("value"), str)
            ):
                raise Problem(
                    400, "unsupportedIdentifier", f"only dns identifiers are supported, not {item!r}"
                )
            name = item["value"].lower().rstrip(".")
            domain = strip_localhost(name)
            if not await self.certificates.belongs_to_a_project(domain):
                raise Problem(
                    400,
                    "rejectedIdentifier",
                    f"{domain} belongs to no project of this universe: no certificate is issued for it",
                )
            names.append(name)
        order_id = secrets.token_hex(8)
        authorizations = []
        for name in names:
            authz_id = secrets.token_hex(8)
            token = _b64(secrets.token_bytes(32))
            self._put(
                "authz",
                authz_id,
                {
                    "id": authz_id,
                    "account": account["id"],
                    "order": order_id,
                    "name": name,
                    "status": "pending",
                    "token": token,
                    "challenge": {"status": "pending"},
                    "expires": _expires(),
                },
            )
            authorizations.append(authz_id)
        order = {
            "id": order_id,
            "account": account["id"],
            "names": names,
            "status": "pending",
            "authorizations": authorizations,
            "expires": _expires(),
        }
        self._put("orders", order_id, order)
        return 201, self._order_view(request, order), {"location": self._url(request, "order", order_id)}

    def _order_view(self, request: Request, order: dict[str, Any]) -> dict[str, Any]:
        view = {
            "status": order["status"],
            "expires": order["expires"],
            "identifiers": [{"type": "dns", "value": name} for name in order["names"]],
            "authorizations": [self._url(request, "authz", a) for a in order["authorizations"]],
            "finalize": self._url(request, "finalize", order["id"]),
        }
        if order.get("certificate"):
            view["certificate"] = self._url(request, "cert", order["id"])
        if order.get("error"):
            view["error"] = order["error"]
        return view

    async def order(self, request: Request, payload: bytes, account: Any, key: Any) -> Any:
        order = self._get("orders", request.path_params["id"])
        self._owned(order, account)
        return 200, self._order_view(request, order), {"location": self._url(request, "order", order["id"])}

    # -- authorizations and http-01 -------------------------------------------------------------------

    def _challenge_view(self, request: Request, authz: dict[str, Any]) -> dict[str, Any]:
        view = {
            "type": "http-01",
            "url": self._url(request, "challenge", authz["id"]),
            "token": authz["token"],
            "status": authz["challenge"]["status"],
        }
        for field in ("validated", "error"):
            if authz["challenge"].get(field):
                view[field] = authz["challenge"][field]
        return view

    async def authorization(self, request: Request, payload: bytes, account: Any, key: Any) -> Any:
        authz = self._get("authz", request.path_params["id"])
        self._owned(authz, account)
        view = {
            "status": authz["status"],
            "expires": authz["expires"],
            "identifier": {"type": "dns", "value": authz["name"]},
            "challenges": [self._challenge_view(request, authz)],
        }
        return 200, view, {}

    async def challenge(self, request: Request, payload: bytes, account: Any, key: Any) -> Any:
        authz = self._get("authz", request.path_params["id"])
        self._owned(authz, account)
        if authz["status"] == "pending":
            expected = f"{authz['token']}.{self._thumbprint(key)}"
            self.kv.put_json(f"{PREFIX}tokens/{authz['token']}", expected)
            error = await self._validate(authz["name"], authz["token"], expected)
            now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if error is None:
                authz["status"] = "valid"
                authz["challenge"] = {"status": "valid", "validated": now}
            else:
                authz["status"] = "invalid"
                authz["challenge"] = {"status": "invalid", "error": error}
                self.log.info("ACME http-01 for %s failed: %s", authz["name"], error["detail"])
            self._put("authz", authz["id"], authz)
            self._order_follows(authz["order"], error)
        links = {"link": f'<{self._url(request, "authz", authz["id"])}>;rel="up"'}
        return 200, self._challenge_view(request, authz), links

    async def _validate(self, name: str, token: str, expected: str) -> dict[str, Any] | None:
        """None when a gateway of the universe answers the challenge for `name` with `expected`."""
        gateways = [p for p in await self.peers.discover("gateway") if "http" in p.ports]
        if not gateways:
            return {
                "type": ERROR + "connection",
                "detail": "no gateway runs in this universe to answer the http-01 challenge",
            }
        url = f"http://127.0.0.1:{gateways[0].ports['http']}{CHALLENGE_PATH}{token}"
        try:
            async with httpx.AsyncClient(timeout=VALIDATION_TIMEOUT) as client:
                answer = await client.get(url, headers={"host": name})
        except httpx.HTTPError as exc:
            return {"type": ERROR + "connection", "detail": f"http://{name}{CHALLENGE_PATH}{token}: {exc}"}
        if answer.status_code != 200 or answer.text.strip() != expected:
            return {
                "type": ERROR + "incorrectResponse",
                "detail": f"http://{name}{CHALLENGE_PATH}{token} answered {answer.status_code} "
                f"{answer.text[:100]!r}, not the key authorization",
            }
        return None

    def _order_follows(self, order_id: str, error: dict[str, Any] | None) -> None:
        order = self._get("orders", order_id)
        if error is not None:
            order["status"], order["error"] = "invalid", error
        elif all(self._get("authz", a)["status"] == "valid" for a in order["authorizations"]):
            order["status"] = "ready"
        self._put("orders", order_id, order)

    # -- finalize and the certificate -----------------------------------------------------------------

    async def finalize(self, request: Request, payload: bytes, account: Any, key: Any) -> Any:
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        order = self._get("orders", request.path_params["id"])
        self._owned(order, account)
        if order["status"] != "ready":
            raise Problem(403, "orderNotReady", f"the order is {order['status']}, not ready")
        try:
            csr = x509.load_der_x509_csr(_unb64(str(self._json(payload)["csr"])))
        except (KeyError, ValueError) as exc:
            raise Problem(400, "badCSR", f"`csr` is not a base64url DER certificate request: {exc}") from None
        if not csr.is_signature_valid:
            raise Problem(400, "badCSR", "the certificate request's signature does not verify")
        names = {str(a.value).lower() for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)}
        try:
            alt = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names |= {n.lower() for n in alt.get_values_for_type(x509.DNSName)}
        except x509.ExtensionNotFound:
            pass
        if names != set(order["names"]):
            raise Problem(
                400,
                "badCSR",
                f"the request names {sorted(names)}, the order {sorted(order['names'])}: they must be the same",
            )
        issued = self.certificates.issuer().sign_request(order["names"], csr.public_key())
        order["status"], order["certificate"] = "valid", issued.certificate
        self._put("orders", order["id"], order)
        self.log.info("ACME certificate for %s issued: serial %s", ", ".join(order["names"]), issued.serial)
        return 200, self._order_view(request, order), {"location": self._url(request, "order", order["id"])}

    async def certificate(self, request: Request, payload: bytes, account: Any, key: Any) -> Any:
        order = self._get("orders", request.path_params["id"])
        self._owned(order, account)
        if not order.get("certificate"):
            raise Problem(404, "malformed", "the order has no certificate yet: finalize it first")
        return 200, str(order["certificate"]), {}
