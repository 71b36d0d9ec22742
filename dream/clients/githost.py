"""The git host client (simple `git`): repositories, their webhooks and the deliveries of push events.

p2p routes: POST/GET /git/repos, GET /git/repos/{id}, POST/GET /git/repos/{id}/hooks,
GET /git/repos/{id}/deliveries, POST /git/repos/{id}/push-event, POST /git/hooks/moved.
(git clients themselves use the node's smart HTTP on its http port, not this API.)
"""

from __future__ import annotations

from typing import Any, TypedDict

from dream.clients.base import ServiceClient

REPOS = "/git/repos"
REPO = "/git/repos/{id}"
HOOKS = "/git/repos/{id}/hooks"
DELIVERIES = "/git/repos/{id}/deliveries"
PUSH_EVENT = "/git/repos/{id}/push-event"
HOOKS_MOVED = "/git/hooks/moved"

# A push event as GitHub sends it (`dream.githost.payload.push_payload`).
PushEvent = dict[str, Any]


class Repository(TypedDict):
    """A repository on the git host, named as GitHub's API names one."""

    id: int
    owner: str
    name: str
    private: bool
    default_branch: str
    created_at: int
    full_name: str  # owner/name
    clone_url: str  # http://127.0.0.1:<port>/<owner>/<name>.git
    html_url: str


class Webhook(TypedDict, total=False):
    """A webhook of a repository (its secret is left out of listings)."""

    id: int
    url: str
    secret: str
    events: list[str]


class Attempt(TypedDict):
    """One attempt to deliver a push event (status 0: no answer)."""

    at: float
    url: str
    status: int
    response: Any
    error: str
    duration: float


class Delivery(TypedDict):
    """A push event's delivery to one hook, with every attempt (state: pending, retrying, delivered,
    failed)."""

    delivery: str
    repository: int
    full_name: str
    hook: int
    url: str
    ref: str
    after: str
    state: str
    status: int
    response: Any
    duration: float
    attempts: list[Attempt]
    next_attempt: float | None


class GitHostClient(ServiceClient):
    service = "git"

    async def create_repository(self, owner: str, name: str, *, private: bool = False) -> Repository:
        """A new, empty bare repository `owner/name`."""
        body: dict[str, Any] = {"owner": owner, "name": name}
        if private:
            body["private"] = True
        answer: Repository = await self._json("POST", REPOS, json=body)
        return answer

    async def repositories(self) -> list[Repository]:
        """Every repository of the git host."""
        return list((await self._json("GET", REPOS))["repositories"])

    async def repository(self, repo_id: int | str) -> Repository:
        """One repository (its clone URL names the git host's current port)."""
        answer: Repository = await self._json("GET", REPO.format(id=repo_id))
        return answer

    async def add_hook(self, repo_id: int | str, url: str, secret: str) -> Webhook:
        """Deliver the repository's push events to `url`, signed with `secret`."""
        answer: Webhook = await self._json(
            "POST", HOOKS.format(id=repo_id), json={"url": url, "secret": secret}
        )
        return answer

    async def hooks(self, repo_id: int | str) -> list[Webhook]:
        """The repository's webhooks, without their secrets."""
        return list((await self._json("GET", HOOKS.format(id=repo_id)))["hooks"])

    async def deliveries(self, repo_id: int | str) -> list[Delivery]:
        """Every delivery of the repository's push events, with its state and attempts."""
        return list((await self._json("GET", DELIVERIES.format(id=repo_id)))["deliveries"])

    async def push_event(self, repo_id: int | str, branch: str) -> PushEvent:
        """The push event GitHub would send for the branch's current head (the fixtures deliver it)."""
        answer = await self._json("POST", PUSH_EVENT.format(id=repo_id), json={"branch": branch})
        return dict(answer["payload"])

    async def hooks_moved(self, moves: dict[str, str]) -> int:
        """Point every webhook whose URL starts with an old base URL at the new one; how many moved."""
        return int((await self._json("POST", HOOKS_MOVED, json={"moves": moves}))["updated"])
