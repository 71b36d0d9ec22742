"""Developer sessions: `nox -s tests`, `nox -s lint`, `nox -s bench`."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    session.run("scripts/test", *session.posargs, external=True)


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    session.run(".venv/bin/ruff", "check", "dream", "tests", "bench", "fixtures", "noxfile.py", external=True)
    session.run(
        ".venv/bin/ruff",
        "format",
        "--check",
        "dream",
        "tests",
        "bench",
        "fixtures",
        "noxfile.py",
        external=True,
    )
    session.run(".venv/bin/mypy", external=True)  # dream/, as configured in pyproject.toml


@nox.session(python=False)
def bench(session: nox.Session) -> None:
    session.run(".venv/bin/python", "bench/startup.py", *session.posargs, external=True)
