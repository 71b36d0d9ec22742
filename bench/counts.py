"""The benches' one argument: how many rounds (or tests) to run."""

from __future__ import annotations

import sys


def count_arg(what: str, default: int) -> int:
    """The whole number given as the script's first argument, `default` without one; a usage line
    naming `what` it counts otherwise."""
    try:
        return int(sys.argv[1]) if len(sys.argv) > 1 else default
    except ValueError:
        raise SystemExit(f"usage: {sys.argv[0]} [{what}]   (a whole number, default {default})") from None
