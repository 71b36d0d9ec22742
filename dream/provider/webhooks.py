"""Turning ref updates into GitHub `push` deliveries, in the background, retried and recorded."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from dream.provider.commits import read_commits
from dream.provider.gitcli import ZERO, is_ancestor, refs, rev_list
from dream.provider.payload import push_payload, sign
from dream.provider.store import Hook, Repository, RepositoryStore

ATTEMPTS = 3
BACKOFF = 0.25  # seconds before the 2nd attempt, doubled after each failure
BACKOFF_MAX = 2.0
TIMEOUT = 10.0
MAX_COMMITS = 20  # GitHub lists at most 20 commits in a push event
USER_AGENT = "GitHub-Hookshot/dream"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefUpdate:
    """One line of git's post-receive input: `<before> <after> <ref>`."""

    before: str
    after: str
    ref: str

    @classmethod
    def parse(cls, text: str) -> list[RefUpdate]:
        updates = []
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3:
                updates.append(cls(*parts))
        return updates


def headers_for(body: bytes, hook: Hook, repo_id: int, event: str, guid: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json"
        if hook.content_type == "json"
        else "application/x-www-form-urlencoded",
        "User-Agent": USER_AGENT,
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": guid,
        "X-GitHub-Hook-ID": str(hook.id),
        "X-GitHub-Hook-Installation-Target-ID": str(repo_id),
        "X-GitHub-Hook-Installation-Target-Type": "repository",
        # Like GitHub: no secret, no signature headers.
        **(sign(body, hook.secret) if hook.secret else {}),
    }


def build_push_events(
    repo: Repository, updates: list[RefUpdate], pusher: str, base_url: str, pushed_at: int
) -> list[dict[str, Any]]:
    """One push payload per updated branch (tags and other refs are not announced). Blocking (git)."""
    current = refs(repo.path)
    events = []
    for update in updates:
        if not update.ref.startswith("refs/heads/") or update.before == update.after:
            continue
        commits: list[dict[str, Any]] = []
        head: dict[str, Any] | None = None
        forced = False
        if update.after != ZERO:
            if update.before == ZERO:
                # A new branch lists only commits no other branch already had (like GitHub).
                others = [
                    sha
                    for name, sha in current.items()
                    if name.startswith("refs/heads/") and name != update.ref
                ]
                shas = rev_list(repo.path, update.after, others, MAX_COMMITS)
            else:
                forced = not is_ancestor(repo.path, update.before, update.after)
                shas = rev_list(repo.path, update.after, [update.before], MAX_COMMITS)
            html_url = repo.html_url(base_url)
            commits = read_commits(repo.path, shas, html_url)
            head = commits[-1] if commits and commits[-1]["id"] == update.after else None
            if head is None:
                head = read_commits(repo.path, [update.after], html_url)[0]
        events.append(
            push_payload(
                repo,
                update.ref,
                update.before,
                update.after,
                commits,
                pusher,
                pushed_at,
                base_url=base_url,
                head_commit=head,
                forced=forced,
            )
        )
    return events


class Deliverer:
    """Delivers push events to a repository's hooks without making the pusher wait.

    `busy` counts work in flight (pushes being received and deliveries pending) so callers, tests in
    particular, can wait until everything triggered so far has been delivered.
    """

    def __init__(self, store: RepositoryStore) -> None:
        self.store = store
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy = 0
        self._idle = threading.Condition()

    # -- in-flight accounting (thread-safe: the server loop and test threads both read it) -----

    def begin(self) -> None:
        with self._idle:
            self._busy += 1

    def end(self) -> None:
        with self._idle:
            self._busy -= 1
            if self._busy == 0:
                self._idle.notify_all()

    @property
    def busy(self) -> int:
        with self._idle:
            return self._busy

    def wait_idle_blocking(self, timeout: float) -> bool:
        """From a thread other than the server's loop: True once nothing is in flight."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    async def wait_idle(self, timeout: float) -> bool:
        """From any event loop (polls, so it also works when the server runs on another loop)."""
        deadline = time.monotonic() + timeout
        while self.busy:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    # -- delivering ----------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, trust_env=False)
        return self._client

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def pushed(self, repo: Repository, updates: list[RefUpdate], pusher: str, base_url: str) -> None:
        """Called on the server loop after a receive-pack changed refs; returns at once."""
        self._spawn(self._announce(repo, updates, pusher, base_url))

    def _spawn(self, coroutine: Any) -> None:
        self.begin()
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)

        def finished(done: asyncio.Task[None]) -> None:
            self._tasks.discard(done)
            self.end()

        task.add_done_callback(finished)

    async def _announce(self, repo: Repository, updates: list[RefUpdate], pusher: str, base_url: str) -> None:
        pushed_at = int(time.time())
        try:
            self.store.mark_pushed(repo.id, pushed_at)
            events = await asyncio.to_thread(build_push_events, repo, updates, pusher, base_url, pushed_at)
        except Exception:  # a background task: log it, the push itself already succeeded
            log.exception("could not build the push events of %s", repo.full_name)
            return
        for hook in self.store.hooks(repo.id):
            if not hook.active or ("push" not in hook.events and "*" not in hook.events):
                continue
            for payload in events:
                self._spawn(self.deliver(hook, "push", payload))

    async def deliver(self, hook: Hook, event: str, payload: dict[str, Any]) -> int | None:
        """POST one event to one hook, retrying connection errors and 5xx; returns the last status."""
        text = json.dumps(payload)
        body = (text if hook.content_type == "json" else urlencode({"payload": text})).encode()
        guid = str(uuid.uuid4())
        headers = headers_for(body, hook, hook.repo_id, event, guid)
        status: int | None = None
        error: str | None = None
        started = time.monotonic()
        attempt = 0
        for attempt in range(1, ATTEMPTS + 1):
            started = time.monotonic()
            try:
                response = await self._http().post(hook.url, content=body, headers=headers)
                status, error = response.status_code, None
                if status < 500:
                    break
                error = f"receiver answered {status}"
            except httpx.HTTPError as failure:
                status, error = None, f"could not deliver to {hook.url}: {failure!r}"
            if attempt < ATTEMPTS:
                await asyncio.sleep(min(BACKOFF * 2 ** (attempt - 1), BACKOFF_MAX))
        self.store.record_delivery(
            guid=guid,
            hook=hook,
            event=event,
            ref=payload.get("ref"),
            after=payload.get("after"),
            status_code=status,
            duration_ms=(time.monotonic() - started) * 1000,
            attempts=attempt,
            error=error,
        )
        return status
