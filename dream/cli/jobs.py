"""`dream jobs`: the universe's build jobs, newest first; `dream jobs JOB` prints a job's log, and with
`--follow` keeps printing it while the job runs, until it ends."""

from __future__ import annotations

import sys

import typer

from dream.cli.common import client, print_from_offset
from dream.settings import DEFAULT_UNIVERSE

# How often `--follow` asks the daemon for the job's new lines.
FOLLOW_INTERVAL = 0.25


def jobs(
    job: str = typer.Argument("", help="A job id (`job-<hex>`): print its log instead of the list"),
    universe: str = typer.Option(DEFAULT_UNIVERSE, "--universe", "-u"),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing the job's log until it ends"),
) -> None:
    """List the build jobs, or print (and follow) one job's log."""
    with client() as api:
        if not job:
            found = api.jobs(universe)
            if not found:
                print(f"no build job in universe `{universe}` yet: push a project")
            for row in found:
                took = f"{row['duration']:.1f}s" if row.get("duration") is not None else "-"
                print(f"{row['id']}  {row['status']:<9} {took:>7}  {row['repository']} @ {row['commit']}")
            return
        answer = print_from_offset(
            lambda offset: api.job_log(universe, job, offset),
            follow=follow,
            every=FOLLOW_INTERVAL,
            until=lambda found: bool(found["done"]),
        )
        if follow or answer["done"]:
            ended = f" - {answer['error']}" if answer["error"] else ""
            print(f"job {answer['job']}: {answer['status']}{ended}", file=sys.stderr)
        if answer["status"] in ("failed", "cancelled"):
            raise typer.Exit(1)
