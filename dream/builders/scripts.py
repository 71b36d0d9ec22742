"""Step scripts: upstream's absolute container paths (/src, /out, /utils) remapped to a build's temp dirs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

# An absolute /src, /out or /utils path component, not part of a longer path like /usr/out or /output.
_CONTAINER_PATH_RE = re.compile(r"(?<![\w./$-])/(src|out|utils)(?=$|[/\s\"';:)}|&<>`])", re.MULTILINE)

DEFAULT_WASM_STEP = '. /utils/wasm.sh\nbuild "${FILENAME}"\nret=$?\necho -n $ret > /out/ret-code\nexit $ret\n'
DEFAULT_WEBSITE_STEP = '"$DREAM_PYTHON" -m dream.builders.step website\n'


def remap_paths(script: str, dirs: dict[str, Path]) -> str:
    """Rewrite `/src`, `/out`, `/utils` to the given dirs so upstream scripts run unchanged without root."""
    return _CONTAINER_PATH_RE.sub(lambda m: str(dirs[m.group(1)]), script)


# WAT: wabt's `wat2wasm` (Debian package wabt) answers in milliseconds where a Python step takes ~0.1 s;
# anything it cannot do (another entry file, a newer proposal) goes to the Python step, whose wasmtime
# parser reports errors.
_WAT_FAST_PATH = (
    '    if command -v wat2wasm >/dev/null 2>&1 && [ -f "$SRC/main.wat" ] \\\n'
    '        && wat2wasm "$SRC/main.wat" -o "$OUT/$name.wasm" 2>/dev/null; then\n'
    "        return 0\n"
    "    fi\n"
)


def wasm_utils(lang: str, image: str) -> str:
    """Our `/utils/wasm.sh` for an image: `build [name]` compiles $SRC into $OUT/<name>.wasm."""
    return (
        f"# dream's stand-in for the /utils/wasm.sh of the {image} image.\n"
        "build() {\n"
        '    local name="${1:-${FILENAME:-main}}"\n'
        '    mkdir -p "$OUT"\n'
        + (_WAT_FAST_PATH if lang == "wat" else "")
        + f'    "$DREAM_PYTHON" -m dream.builders.step {shlex.quote(lang)} "$name"\n'
        "}\n"
    )


def _commands(script: str) -> list[str]:
    """A step script's commands: no shebang, comments, blank lines or indentation."""
    kept = (line.strip() for line in script.splitlines())
    return [line for line in kept if line and not line.startswith("#")]


def is_standard_wasm_step(script: str) -> bool:
    """Whether a step script (before remapping) only calls `build "${FILENAME}"` and reports its exit
    code, as the templates' `.taubyte/build.sh` and dream's default step do: dream may then run the
    compiler itself, in the same sandbox, without the shell and Python the script would start."""
    return _commands(script) == _commands(DEFAULT_WASM_STEP)
