"""`dream doctor`: the guest toolchains monkey builds with, found or missing, and how to install them."""

from __future__ import annotations

import typer

from dream.cli import output
from dream.cli.common import JsonOpt
from dream.errors import DreamError

# In the order `--warm` pays their one-time costs.
WARM_ORDER = ("go", "c", "zig", "rust", "assemblyscript", "wat")


def doctor(
    warm: bool = typer.Option(
        False, "--warm", help="Pay each toolchain's one-time cost now (Go std, wasi-libc)"
    ),
    as_json: bool = JsonOpt,
) -> None:
    """The guest toolchains monkey builds with: found or missing, version, and how to install."""
    from rich.table import Table

    from dream.builders.languages import CompileError
    from dream.builders.sandbox import SandboxUnavailable
    from dream.builders.toolchains import find_toolchains
    from dream.builders.toolchains import warm as warm_toolchain

    chains = find_toolchains()
    if as_json:
        output.dump_json(
            [
                {
                    "name": c.name,
                    "found": c.found,
                    "version": c.version,
                    "path": str(c.path or ""),
                    "install": c.install_command,
                }
                for c in chains
            ]
        )
    else:
        table = Table("toolchain", "status", "version", "install with")
        for chain in chains:
            status = "[green]found[/green]" if chain.found else "[red]missing[/red]"
            table.add_row(
                chain.name, status, chain.version or "", "" if chain.found else chain.install_command
            )
        output.console.print(table)
    if warm:
        names = {c.name for c in chains if c.found}
        for name in WARM_ORDER:
            if name in names or (name == "c" and "zig" in names):
                output.info(f"warming {name}...")
                try:
                    seconds = warm_toolchain(name, log=lambda line: None)
                except (CompileError, SandboxUnavailable) as exc:
                    raise DreamError(f"warming {name} failed: {exc}") from None
                output.success(f"{name} ready ({seconds:.1f}s)")
    if not all(c.found for c in chains):
        raise typer.Exit(1)
