"""`dream watch [PATH]`: on each save in a project's working copies, redeploy just what changed.

Files are followed with watchfiles. Saves in a burst are coalesced into one change; a save while a
change is being deployed queues one more (all such saves together). Each change goes to the daemon
(`POST /project/{universe}/{project}/working-copy`), which rebuilds only the function, website, library or
config it belongs to through monkey's own pipeline and publishes it to tns, with no commit. A build error
is printed with the compiler's file and line while the last good version keeps serving. `--commit` also
commits and pushes each working copy a successful change touched.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from dream.cli import output
from dream.cli.common import client
from dream.errors import DreamError
from dream.settings import DEFAULT_UNIVERSE

# watchfiles groups the events of a burst: it waits STEP ms for more after each one, for at most
# DEBOUNCE ms in all (an editor's save is several events: write, rename, chmod, within a millisecond
# or two). It looks every STEP ms, so a save reaches the daemon 1-2 steps after it happened: 20 ms
# (30 ms on average, against 70 ms at 50 ms).
WATCH_STEP_MS = 20
WATCH_DEBOUNCE_MS = 400
READY_TIMEOUT_MS = 200  # how soon the watcher says it is running (and then how often it looks around)
WATCHED = ("config", "code", "websites", "libraries")  # the working copies of a project
GIT_TIMEOUT = 120.0


def project_root(path: Path) -> Path:
    """The project folder holding `config/` (and `code/`, `websites/`, `libraries/`) at or above `path`."""
    path = path.expanduser().resolve()
    if not path.exists():
        raise DreamError(f"{path} does not exist; pass a project folder (the one holding config/ and code/)")
    for candidate in (path, *path.parents):
        if (candidate / "config" / "config.yaml").is_file():
            return candidate
    raise DreamError(
        f"{path} is not in a project: no config/config.yaml here or above; pass the folder `dream new project` made"
    )


def project_id(root: Path) -> str:
    from dream.tcc.errors import ConfigError
    from dream.tcc.loader import load_mapping

    try:
        found = load_mapping(root / "config" / "config.yaml", file="config/config.yaml").get("id")
    except ConfigError as exc:
        raise DreamError(f"cannot tell which project {root} is: {exc}") from None
    if not found:
        raise DreamError(f"{root}/config/config.yaml has no `id:`; it must be the project's id")
    return str(found)


def working_copy_of(root: Path, path: Path) -> Path | None:
    """The git working copy a changed file is in: config/, code/, websites/<x>/ or libraries/<x>/."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return None
    if not parts or parts[0] not in WATCHED:
        return None
    if parts[0] in ("config", "code"):
        return root / parts[0]
    return root / parts[0] / parts[1] if len(parts) > 2 else None


class ChangeQueue:
    """Saves waiting to be deployed: everything that came in since the last take is one change."""

    def __init__(self) -> None:
        self._items: queue.Queue[set[Path]] = queue.Queue()

    def put(self, paths: Iterable[Path]) -> None:
        batch = set(paths)
        if batch:
            self._items.put(batch)

    def take(self, timeout: float | None = None) -> set[Path]:
        """The next change, merged with every other already waiting (empty when `timeout` ran out)."""
        try:
            merged = set(self._items.get(timeout=timeout))
        except queue.Empty:
            return set()
        while True:
            try:
                merged |= self._items.get_nowait()
            except queue.Empty:
                return merged


class Follower(threading.Thread):
    """Follows the project's files with watchfiles and puts each burst of saves on the queue."""

    def __init__(self, root: Path, changes: ChangeQueue) -> None:
        super().__init__(name="dream-watch", daemon=True)
        self.root = root
        self.changes = changes
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        import watchfiles

        try:
            # The whole project folder: a website or library added while watching is followed too.
            for batch in watchfiles.watch(
                self.root,
                debounce=WATCH_DEBOUNCE_MS,
                step=WATCH_STEP_MS,
                stop_event=self.stop,
                rust_timeout=READY_TIMEOUT_MS,
                yield_on_timeout=True,
                raise_interrupt=False,
            ):
                self.ready.set()  # the first (empty) batch comes once the watcher runs
                self.changes.put(self._kept(batch))
        except BaseException as exc:  # shown by the main thread
            self.error = exc
            self.ready.set()

    def _kept(self, batch: set[tuple[Any, str]]) -> list[Path]:
        """The changed files of a project's working copies, without an editor's temporary files (added
        and deleted within the burst)."""
        from watchfiles import Change

        kinds: dict[str, set[Any]] = {}
        for change, path in batch:
            kinds.setdefault(path, set()).add(change)
        return [
            Path(path)
            for path, seen in kinds.items()
            if not {Change.added, Change.deleted} <= seen
            and working_copy_of(self.root, Path(path)) is not None
        ]


def _relative(root: Path, paths: Iterable[Path]) -> list[str]:
    return sorted(str(p.relative_to(root)) if p.is_relative_to(root) else str(p) for p in paths)


def _stamp() -> str:
    return time.strftime("%H:%M:%S")


def announce(root: Path, changed: set[Path]) -> str:
    """The line saying what changed, printed as its deploy starts; returns the list it showed."""
    files = _relative(root, changed)
    listed = ", ".join(files[:4]) + (f" and {len(files) - 4} more" if len(files) > 4 else "")
    output.console.print(f"[dim]{_stamp()}[/dim] changed: {escape(listed)}", soft_wrap=True)
    return listed


def show(answer: dict[str, Any], took: float) -> None:
    """One status line per resource redone (with where to try it), and each failure with its message."""
    console = output.console
    for built in answer.get("built", []):
        urls = built.get("urls") or []
        try_it = f"  [cyan]{escape(urls[0])}[/cyan]" if urls else ""
        console.print(
            f"[dim]{_stamp()}[/dim] [green]✓[/green] {escape(built['label'])} deployed in "
            f"{built['seconds']:.2f}s{try_it}",
            soft_wrap=True,
        )
    for failed in answer.get("failed", []):
        console.print(
            f"[dim]{_stamp()}[/dim] [red]✗[/red] {escape(failed['label'])} failed; the last good version keeps "
            "serving:",
            soft_wrap=True,
        )
        console.print(escape(str(failed["error"])), style="red", soft_wrap=True, highlight=False)
    if not answer.get("built") and not answer.get("failed"):
        console.print(
            f"[dim]{_stamp()}[/dim] nothing to deploy: the files belong to no function, website or library",
            soft_wrap=True,
        )
    elif answer.get("built") and not answer.get("failed"):
        console.print(f"[dim]{_stamp()}[/dim] ready in {took:.2f}s; watching", soft_wrap=True)


def commit_and_push(root: Path, changed: set[Path], labels: list[str]) -> list[str]:
    """Commit every working copy the change touched and push it (its normal push then runs as usual)."""
    from dream import gitrun

    copies = sorted({copy for path in changed if (copy := working_copy_of(root, path)) is not None})
    pushed = []
    message = f"dream watch: {', '.join(labels) or 'working copy change'}"
    env = {"GIT_TERMINAL_PROMPT": "0"}
    for copy in copies:
        # The user's own identity when git has one; dream's otherwise (a commit needs one).
        known = gitrun.run(["config", "user.email"], cwd=copy, env=env, timeout=GIT_TIMEOUT).status == 0
        identity = [] if known else ["-c", "user.name=dream", "-c", "user.email=dream@localhost"]
        for args in (
            ["add", "--all"],
            ["commit", "--quiet", "-m", message],
            ["push", "--quiet", "origin", "HEAD"],
        ):
            result = gitrun.run(
                [*identity, *args], cwd=copy, env={"GIT_TERMINAL_PROMPT": "0"}, timeout=GIT_TIMEOUT
            )
            if result.status != 0:
                if args[0] == "commit" and "nothing to commit" in (result.stdout + result.stderr):
                    break
                raise DreamError(
                    f"git {args[0]} in {copy} failed: {(result.stderr or result.stdout).strip()}"
                )
        else:
            pushed.append(str(copy.relative_to(root)))
    return pushed


def follow(
    root: Path,
    deploy: Callable[[list[str]], dict[str, Any]],
    *,
    commit: bool = False,
    stop: threading.Event | None = None,
    on_ready: Callable[[], None] = lambda: None,
) -> None:
    """Deploy each change until `stop` is set (or Ctrl-C); `on_ready` runs once saves are being seen."""
    changes = ChangeQueue()
    follower = Follower(root, changes)
    follower.start()
    follower.ready.wait()
    if follower.error is not None:
        raise DreamError(f"cannot watch {root}: {follower.error}")
    on_ready()
    stop = stop or threading.Event()
    try:
        while not stop.is_set():
            changed = changes.take(timeout=0.2)
            if follower.error is not None:
                raise DreamError(f"watching {root} stopped: {follower.error}")
            if not changed:
                continue
            started = time.monotonic()
            listed = announce(root, changed)
            with output.console.status(f"deploying {listed}"):
                try:
                    answer = deploy(sorted(str(p) for p in changed))
                except DreamError as exc:  # the daemon could not take the change at all
                    output.error(str(exc))
                    continue
            show(answer, time.monotonic() - started)
            if commit and answer.get("built") and not answer.get("failed"):
                try:
                    pushed = commit_and_push(root, changed, [b["label"] for b in answer["built"]])
                except DreamError as exc:
                    output.error(str(exc))
                else:
                    if pushed:
                        output.info(f"committed and pushed {', '.join(pushed)}")
    finally:
        follower.stop.set()
        follower.join(timeout=5)


def watch(
    path: Path = typer.Argument(Path("."), help="Project folder (holding config/ and code/)"),
    universe: str = typer.Option(DEFAULT_UNIVERSE, "--universe", "-u", help="Universe the project lives in"),
    commit: bool = typer.Option(
        False, "--commit", help="Also commit and push each working copy a change touched"
    ),
    branch: str = typer.Option(
        "", "--branch", "-b", help="Branch to publish on (default: the daemon's first)"
    ),
) -> None:
    """On each save, rebuild and deploy only the function, website, library or config that changed."""
    root = project_root(path)
    pid = project_id(root)
    daemon = client()
    if not daemon.listening():
        raise DreamError(daemon.not_running())
    daemon.project(universe, pid)  # a project the universe does not know is said now, not on each save

    def deploy(changed: list[str]) -> dict[str, Any]:
        return daemon.working_copy_change(universe, pid, changed, path=str(root), branch=branch)

    def ready() -> None:
        output.info(
            f"watching {root} (project {pid} in universe {universe}); save a file to deploy it, Ctrl-C stops"
        )

    try:
        follow(root, deploy, commit=commit, on_ready=ready)
    except KeyboardInterrupt:
        output.info("stopped watching")
