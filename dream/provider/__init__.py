"""A local git provider standing in for GitHub: bare repositories over smart HTTP, a small REST API
and GitHub-style `push` webhooks (signed, retried, recorded)."""

from __future__ import annotations

from dream.provider.payload import push_payload, sign, verify_signature
from dream.provider.server import GitProvider
from dream.provider.store import Delivery, Hook, ProviderError, Repository, RepositoryStore

__all__ = [
    "Delivery",
    "GitProvider",
    "Hook",
    "ProviderError",
    "Repository",
    "RepositoryStore",
    "push_payload",
    "sign",
    "verify_signature",
]
