"""The benches' A/B against an earlier commit: with `DREAM_BENCH_BASE` set to a checkout of it, a bench
runs a second daemon from that checkout and interleaves its rounds with this tree's, so both sides are
measured under the same load on a shared machine. Make the checkout with:

    git archive <commit> | tar -x -C /tmp/base && cp dream/wasm/_nativecall*.so /tmp/base/dream/wasm/
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_ENV = "DREAM_BENCH_BASE"


def base_tree() -> Path | None:
    """The checkout to compare with, or None (no A/B); SystemExit when it is not a dream checkout."""
    value = os.environ.get(BASE_ENV, "").strip()
    if not value:
        return None
    tree = Path(value).resolve()
    if not (tree / "dream" / "__init__.py").is_file():
        raise SystemExit(
            f"{BASE_ENV}={value}: no dream/ package there; give a checkout of the commit to compare"
        )
    return tree


def load_average() -> str:
    """The machine's load averages (1, 5, 15 minutes), to print beside the figures."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())
