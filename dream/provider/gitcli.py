"""The git binary, run with a clean environment (no user/global config leaks into the provider)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

ZERO = "0" * 40
GIT_TIMEOUT = 120.0


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment where only the provider's settings count: no global/system config, no prompts."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": "/nonexistent",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
    }
    if extra:
        env.update(extra)
    return env


class GitFailed(Exception):
    """A git command exited non-zero; the message carries git's own explanation."""


def git(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            env=git_env(),
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except FileNotFoundError as error:
        raise GitFailed("the `git` binary was not found on PATH; install git to use the provider") from error
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip() or f"exit status {result.returncode}"
        raise GitFailed(f"`git {' '.join(args[:2])}` failed: {detail}")
    return result


def refs(git_dir: Path) -> dict[str, str]:
    """Every ref of a repository and the object it points at."""
    out = git("--git-dir", str(git_dir), "for-each-ref", "--format=%(objectname) %(refname)").stdout
    pairs = (line.split(" ", 1) for line in out.splitlines() if line)
    return {name: sha for sha, name in pairs}


def is_ancestor(git_dir: Path, older: str, newer: str) -> bool:
    return (
        git("--git-dir", str(git_dir), "merge-base", "--is-ancestor", older, newer, check=False).returncode
        == 0
    )


def rev_list(git_dir: Path, tip: str, exclude: list[str], limit: int) -> list[str]:
    """Commits reachable from `tip` but not from `exclude`, oldest first, at most the newest `limit`."""
    args = ["--git-dir", str(git_dir), "rev-list", "--topo-order", f"--max-count={limit}", tip]
    if exclude:
        args += ["--not", *exclude]
    return list(reversed(git(*args).stdout.split()))
