"""GitHub-style webhook deliveries: the headers a push delivery carries and their signatures (HMAC-SHA256,
and SHA-1 like upstream's fixtures). The git host signs what it delivers; patrick verifies what it
receives; both with the hook's secret."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping


def sign(body: bytes, secret: str) -> dict[str, str]:
    key = secret.encode()
    return {
        "X-Hub-Signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
        "X-Hub-Signature": "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest(),
    }


def webhook_headers(body: bytes, *, secret: str, hook_id: int | str, repo_id: int | str) -> dict[str, str]:
    """The headers GitHub sends with a push delivery, signatures included."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/dream",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-GitHub-Hook-ID": str(hook_id),
        "X-GitHub-Hook-Installation-Target-ID": str(repo_id),
        "X-GitHub-Hook-Installation-Target-Type": "repository",
        **sign(body, secret),
    }


def verify_signature(body: bytes, secret: str, headers: Mapping[str, str]) -> bool:
    """True when a signature header matches: SHA-256 when present, else SHA-1."""
    lower = {k.lower(): v for k, v in headers.items()}
    key = secret.encode()
    sha256 = lower.get("x-hub-signature-256", "")
    if sha256.startswith("sha256=") and len(sha256) > len("sha256="):
        return hmac.compare_digest(sha256, "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest())
    sha1 = lower.get("x-hub-signature", "")
    if sha1.startswith("sha1="):
        return hmac.compare_digest(sha1, "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest())
    return False
