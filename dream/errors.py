"""Errors that reach a user as one sentence (never a traceback)."""

from __future__ import annotations


class DreamError(Exception):
    """An error whose message is meant for the user as-is."""


class DaemonNotRunning(DreamError):
    """No daemon answers on the expected address."""
