"""Getting a job's source: a `local://` path as it is (like upstream dream), else a real `git clone`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from dream.errors import DreamError

GIT_TIMEOUT = 120
ZERO = "0" * 40


def git(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        ["git", "-c", "advice.detachedHead=false", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT,
        env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/nonexistent"},
    )
    if result.returncode != 0:
        raise DreamError(f"git {' '.join(args[:2])} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.strip()


def checkout(uri: str, branch: str, commit: str, into: Path) -> tuple[Path, str]:
    """The source directory and the commit it holds."""
    if uri.startswith("local://"):
        path = Path(uri.removeprefix("local://"))
        if not path.is_dir():
            raise DreamError(f"local repository {path} does not exist")
        head = git("rev-parse", "HEAD", cwd=path) if (path / ".git").exists() else commit or "local"
        return path, head
    git("clone", "--quiet", "--branch", branch, "--single-branch", uri, str(into))
    head = git("rev-parse", "HEAD", cwd=into)
    if commit and commit != ZERO and commit != head:  # usually the pushed commit is the branch's head
        git("checkout", "--quiet", commit, cwd=into)
        head = git("rev-parse", "HEAD", cwd=into)
    return into, head
