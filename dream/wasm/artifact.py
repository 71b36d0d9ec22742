"""Unpack a `.zwasm` build artefact (a zip holding `main.wasm`, or `artifact.wasm` from older builders)."""

from __future__ import annotations

import io
import zipfile

from dream.wasm.errors import WasmLoadError

WASM_NAMES = ("main.wasm", "artifact.wasm")
ZIP_MAGIC = b"PK\x03\x04"


def is_zip(data: bytes) -> bool:
    return data[:4] == ZIP_MAGIC


def holds_wasm(data: bytes) -> bool:
    """Whether a zip holds a main.wasm or artifact.wasm (a function build, not a website)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return any(i.filename.rsplit("/", 1)[-1] in WASM_NAMES for i in zf.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError):
        return False


def wasm_from_artifact(data: bytes, *, name: str) -> bytes:
    """The wasm bytes inside a `.zwasm` zip; WasmLoadError naming what was found otherwise."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = [i for i in zf.infolist() if not i.is_dir()]
            for wanted in WASM_NAMES:
                # Prefer the file at the zip root; accept it in a sub-folder too.
                hits = sorted(
                    (i for i in members if i.filename.rsplit("/", 1)[-1] == wanted),
                    key=lambda i: i.filename.count("/"),
                )
                if hits:
                    return zf.read(hits[0])
            listing = ", ".join(i.filename for i in members[:10]) or "nothing"
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise WasmLoadError(
            f"the build artefact of {name} is not a readable zip ({exc}); rebuild the function",
            "corrupt artefact",
        ) from None
    raise WasmLoadError(
        f"the build artefact of {name} holds no main.wasm or artifact.wasm (it has {listing}); "
        "the build must write /out/main.wasm",
        "artefact without main.wasm",
    )
