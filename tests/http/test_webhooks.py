"""dream.http.webhooks: what the git host signs, patrick accepts, and only that."""

from __future__ import annotations

import hashlib
import hmac
import json

from dream.http.webhooks import sign, verify_signature, webhook_headers

BODY = json.dumps({"ref": "refs/heads/main", "after": "a" * 40}).encode()
SECRET = "hook secret"


def test_a_delivery_verifies_with_its_secret_only() -> None:
    headers = webhook_headers(BODY, secret=SECRET, hook_id=7, repo_id=42)
    assert headers["X-GitHub-Event"] == "push"
    assert headers["X-GitHub-Hook-ID"] == "7"
    assert headers["X-GitHub-Hook-Installation-Target-ID"] == "42"
    assert verify_signature(BODY, SECRET, headers)
    assert not verify_signature(BODY, "another secret", headers)
    assert not verify_signature(BODY + b" ", SECRET, headers)


def test_signatures_are_githubs_hmacs() -> None:
    expected = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, SECRET)["X-Hub-Signature-256"] == "sha256=" + expected
    assert sign(BODY, SECRET)["X-Hub-Signature"].startswith("sha1=")


def test_header_names_are_read_in_any_case() -> None:
    lowered = {name.lower(): value for name, value in sign(BODY, SECRET).items()}
    assert verify_signature(BODY, SECRET, lowered)


def test_sha256_decides_when_present() -> None:
    # A wrong SHA-256 is not rescued by a right SHA-1.
    headers = {**sign(BODY, SECRET), "X-Hub-Signature-256": sign(BODY, "wrong")["X-Hub-Signature-256"]}
    assert not verify_signature(BODY, SECRET, headers)
    # Without one, SHA-1 (upstream's fixtures send only that) is checked.
    assert verify_signature(BODY, SECRET, {"X-Hub-Signature": sign(BODY, SECRET)["X-Hub-Signature"]})
    assert not verify_signature(BODY, SECRET, {"X-Hub-Signature": sign(BODY, "wrong")["X-Hub-Signature"]})


def test_no_or_empty_signature_is_refused() -> None:
    assert not verify_signature(BODY, SECRET, {})
    assert not verify_signature(BODY, SECRET, {"X-Hub-Signature-256": "sha256="})
    assert not verify_signature(BODY, SECRET, {"X-Hub-Signature-256": "md5=abc"})
