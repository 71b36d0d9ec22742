"""Getting a job's source: a `local://` path as it is (like upstream dream), else a real clone (GitPython)."""

from __future__ import annotations

from pathlib import Path

from dream import gitrun
from dream.errors import DreamError

GIT_TIMEOUT = 120
ZERO = "0" * 40


def git(*args: str, cwd: Path | None = None) -> str:
    """`git <args>` in `cwd` with none of the user's git setup, its stdout stripped; a failure raises."""
    result = gitrun.run(
        ["-c", "advice.detachedHead=false", *args], cwd=cwd, env=gitrun.ISOLATED_ENV, timeout=GIT_TIMEOUT
    )
    if result.status != 0:
        raise DreamError(f"git {' '.join(args[:2])} failed: {result.message}")
    return result.stdout.strip()


def checkout(uri: str, branch: str, commit: str, into: Path) -> tuple[Path, str]:
    """The source directory and the commit it holds."""
    if uri.startswith("local://"):
        path = Path(uri.removeprefix("local://"))
        if not path.is_dir():
            raise DreamError(f"local repository {path} does not exist")
        head = gitrun.head(path) if (path / ".git").exists() else commit or "local"
        return path, head
    git("clone", "--quiet", "--branch", branch, "--single-branch", uri, str(into))
    head = gitrun.head(into)
    if commit and commit != ZERO and commit != head:  # usually the pushed commit is the branch's head
        git("checkout", "--quiet", commit, cwd=into)
        head = gitrun.head(into)
    return into, head
