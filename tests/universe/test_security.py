"""Proof of universe membership: signatures, replay window, the guard middleware."""

from __future__ import annotations

import time

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from dream.clients import tns
from dream.node.security import UniverseAuth, UniverseGuard, sign_headers, verify

KEY = bytes(32)
OTHER = b"\x01" * 32


def test_signature_verifies_and_binds_method_path_and_body() -> None:
    headers = sign_headers(KEY, "POST", tns.PUSH, b"{}", peer="p", universe="u")
    assert verify(KEY, "POST", tns.PUSH, headers, b"{}") == (0, "")
    assert verify(KEY, "POST", tns.PUSH, headers, b"{ }")[0] == 403
    assert verify(KEY, "GET", tns.PUSH, headers, b"{}")[0] == 403
    assert verify(KEY, "POST", tns.FETCH, headers, b"{}")[0] == 403
    assert verify(OTHER, "POST", tns.PUSH, headers, b"{}")[0] == 403


def test_missing_proof_is_401_and_old_proof_is_403() -> None:
    assert verify(KEY, "GET", "/health", {}, b"")[0] == 401
    headers = sign_headers(KEY, "GET", "/health", b"", peer="p", universe="u")
    headers["x-dream-time"] = f"{time.time() - 3600:.3f}"
    status, reason = verify(KEY, "GET", "/health", headers, b"")
    assert status == 403 and "old" in reason


def test_guard_lets_members_in_and_keeps_others_out() -> None:
    async def echo(request):  # type: ignore[no-untyped-def]
        return PlainTextResponse((await request.body()).decode())

    app = UniverseGuard(
        Starlette(routes=[Route("/echo", echo, methods=["POST"])]), secret=KEY, label="tns@test"
    )
    transport = httpx.ASGITransport(app=app)

    async def run() -> None:
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as stray:
            assert (await stray.post("/echo", content=b"hi")).status_code == 401
        async with httpx.AsyncClient(
            transport=transport, base_url="http://node", auth=UniverseAuth(OTHER, peer="x", universe="other")
        ) as foreign:
            response = await foreign.post("/echo", content=b"hi")
            assert response.status_code == 403
            assert "tns@test refused the request" in response.json()["error"]
        async with httpx.AsyncClient(
            transport=transport, base_url="http://node", auth=UniverseAuth(KEY, peer="y", universe="u")
        ) as member:
            response = await member.post("/echo", content=b"hi")
            assert response.status_code == 200 and response.text == "hi"

    import anyio

    anyio.run(run)


def test_a_member_signing_a_percent_encoded_path_is_let_in() -> None:
    """The signer signs the path as sent; the guard checks that same path, not the decoded one."""

    async def echo(request):  # type: ignore[no-untyped-def]
        return PlainTextResponse(request.path_params["key"])

    app = UniverseGuard(
        Starlette(routes=[Route("/kv/{key:path}", echo, methods=["GET"])]), secret=KEY, label="tns@test"
    )

    async def run() -> None:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://node",
            auth=UniverseAuth(KEY, peer="y", universe="u"),
        ) as member:
            response = await member.get("/kv/a%20b%2Fc")
            assert response.status_code == 200, response.text
            assert response.text == "a b/c"

    import anyio

    anyio.run(run)
