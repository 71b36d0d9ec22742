"""Entry point of our `/utils/wasm.sh` `build` function: `python -m dream.builders.step <lang> [name]`.

Runs inside a build step with SRC/OUT/DREAM_WORK set; compiler output goes to stdout (the build log).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dream.builders.languages import COMPILERS, CompileError, copy_website


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {*COMPILERS, "website"}:
        print(f"usage: step <{'|'.join(sorted({*COMPILERS, 'website'}))}> [name]", file=sys.stderr)
        return 2
    lang = argv[0]
    name = (argv[1] if len(argv) > 1 and argv[1] else os.environ.get("FILENAME")) or "main"
    try:
        src, out = Path(os.environ["SRC"]), Path(os.environ["OUT"])
        work = Path(os.environ.get("DREAM_WORK") or out.parent)
    except KeyError as exc:
        print(
            f"error: {exc.args[0]} is not set; this command runs inside a dream build step", file=sys.stderr
        )
        return 2
    out.mkdir(parents=True, exist_ok=True)
    try:
        if lang == "website":
            copy_website(src, out, work)
        else:
            COMPILERS[lang](src, out / f"{name}.wasm", work)
    except CompileError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
