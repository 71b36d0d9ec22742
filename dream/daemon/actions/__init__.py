"""The daemon's injectable actions, named fixtures on the API as upstream does (`dream inject <name>`,
REST `POST /fixture/{u}/{name}`). Not to be confused with the top-level `fixtures/` (templates, samples)."""

# Importing an action module registers its fixtures.
from dream.daemon.actions import deploy, push  # noqa: F401
from dream.daemon.actions.registry import FIXTURES, Fixture, FixtureContext, Variable, find, kebab, specs

__all__ = ["FIXTURES", "Fixture", "FixtureContext", "Variable", "find", "kebab", "specs"]
