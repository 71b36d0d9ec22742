"""Which builder handles which build image (upstream images plus dream's own)."""

from __future__ import annotations

from dream.builders.script_builder import ScriptBuilder
from dream.builders.toolchains import (
    Toolchain,
    assemblyscript_toolchain,
    go_toolchain,
    rust_toolchain,
    wat_toolchain,
    zig_toolchain,
)

Builder = ScriptBuilder  # every image is built by a step script (upstream's, or dream's default)


def _always(name: str) -> Toolchain:
    return Toolchain(name, True, "1", None, "")


BUILDERS: tuple[ScriptBuilder, ...] = (
    ScriptBuilder("go", "go", ("taubyte/go-wasi",), go_toolchain),
    ScriptBuilder("rust", "rust", ("taubyte/rust-wasi",), rust_toolchain),
    ScriptBuilder(
        "assemblyscript", "assemblyscript", ("taubyte/assembly-script-wasi",), assemblyscript_toolchain
    ),
    ScriptBuilder("c", "c", ("dream/c-wasi",), zig_toolchain),
    ScriptBuilder("zig", "zig", ("dream/zig-wasi",), zig_toolchain),
    ScriptBuilder("wat", "wat", ("dream/wat",), wat_toolchain),
    ScriptBuilder("wasm", "wasm", ("dream/wasm",), lambda: _always("wasm")),
    ScriptBuilder("website", "website", ("node", "dream/website"), lambda: _always("website")),
)


def image_name(image: str) -> str:
    """`docker.io/taubyte/go-wasi:latest` → `taubyte/go-wasi` (tag, digest and registry dropped)."""
    name = image.strip().split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    parts = name.split("/")
    if len(parts) > 2 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        name = "/".join(parts[1:])
    return name.removeprefix("library/")


def builder_for_image(image: str) -> ScriptBuilder | None:
    name = image_name(image)
    for builder in BUILDERS:
        if name in builder.images:
            return builder
    return None


def supported_images() -> list[str]:
    return [image for builder in BUILDERS for image in builder.images]
