"""Git through GitPython: one place for the environment git gets, its time limit and how a failure reads.

GitPython is imported on first use (`import git` costs tens of milliseconds and runs `git version`): only
the processes that run git pay for it (monkey on its first job, the git host on its first repository,
the CLI creating a project), and never before a node is up.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from dream.errors import DreamError

# The whole environment of a git that dream starts itself (`git http-backend`): none of the user's setup.
CLEAN_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/nonexistent", "GIT_TERMINAL_PROMPT": "0"}

# GitPython starts git with this process's environment plus the entries it is given, so a git that must
# not see the user's configuration, credentials or proxy (monkey's checkouts, the git host's repositories)
# gets CLEAN_ENV plus an entry overriding each variable through which they would reach it.
ISOLATED_ENV = {
    **CLEAN_ENV,
    "XDG_CONFIG_HOME": "/nonexistent",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_COUNT": "0",
    "GIT_CONFIG_PARAMETERS": "",
    "GIT_ASKPASS": "",
    "SSH_ASKPASS": "",
    # An empty proxy variable means "no proxy" to git's HTTP transport (curl).
    "http_proxy": "",
    "https_proxy": "",
    "HTTPS_PROXY": "",
    "all_proxy": "",
    "ALL_PROXY": "",
}


@dataclass(frozen=True)
class Outcome:
    status: int
    stdout: str
    stderr: str

    @property
    def message(self) -> str:
        """What git said about a failure (its stderr, else its stdout)."""
        return self.stderr.strip() or self.stdout.strip()


def gitpython() -> ModuleType:
    """The `git` package (GitPython), imported now; a clear error when git itself is missing."""
    try:
        import git
    except ImportError as exc:  # GitPython refuses to import without a working `git` executable
        raise DreamError(
            f"git is not available ({str(exc).splitlines()[0]}); install git (Debian: apt-get install git)"
            " so that it is on PATH, then try again"
        ) from None
    return git


def run(args: Sequence[str], *, cwd: Path | None, env: Mapping[str, str] | None, timeout: float) -> Outcome:
    """`git <args>` in `cwd`, killed (with its children) after `timeout` seconds; never raises for git's
    own failure (the caller words it), only when git cannot be started."""
    git = gitpython()
    runner = git.Git(cwd)
    try:
        status, out, err = runner.execute(
            [runner.GIT_PYTHON_GIT_EXECUTABLE, *args],
            with_extended_output=True,
            with_exceptions=False,
            kill_after_timeout=timeout,
            env=dict(env) if env is not None else None,
        )
    except git.GitCommandNotFound:
        raise DreamError(
            f"git was not found (PATH: {(env or {}).get('PATH', 'this process`s')}); install git"
            " (Debian: apt-get install git), then try again"
        ) from None
    return Outcome(status, str(out), str(err))


def said(exc: Exception) -> str:
    """What git said in one of GitPython's GitCommandErrors (its stderr, without GitPython's framing)."""
    text = str(getattr(exc, "stderr", "") or "").strip()
    if text.startswith("stderr: '") and text.endswith("'"):
        text = text.removeprefix("stderr: '")[:-1]
    return text.strip() or str(exc)


@contextmanager
def repository(path: Path, what: str) -> Iterator[Any]:
    """GitPython's `Repo` for `path`, closed after use (it may hold `git cat-file` processes); a missing or
    broken repository, or a bad ref in it, raises a DreamError that starts with `what`."""
    git = gitpython()
    try:
        with git.Repo(path) as repo:
            yield repo
    except git.NoSuchPathError:
        raise DreamError(f"{what} failed: no repository at {path}") from None
    except git.InvalidGitRepositoryError:
        raise DreamError(f"{what} failed: {path} is not a git repository") from None
    except git.GitCommandError as exc:
        raise DreamError(f"{what} failed: {said(exc)}") from None
    except (git.GitError, ValueError) as exc:  # ValueError: a ref that names nothing
        raise DreamError(f"{what} failed in {path}: {exc}") from None


def head(path: Path) -> str:
    """The commit `path` (a working copy or a bare repository) has checked out, read by GitPython from the
    repository's files (no git process)."""
    git = gitpython()
    try:
        with git.Repo(path) as repo:
            return str(git.SymbolicReference.dereference_recursive(repo, "HEAD"))
    except git.NoSuchPathError:
        reason = "no such directory"
    except git.InvalidGitRepositoryError:
        reason = "not a git repository"
    except (git.GitError, ValueError, OSError) as exc:  # ValueError: HEAD names a branch with no commit
        reason = str(exc) or type(exc).__name__
    raise DreamError(f"git rev-parse HEAD failed in {path}: {reason}")
