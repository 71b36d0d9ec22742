"""Host-call families upstream's current host leaves out (ethereum, the old ipfs client): a module
importing one of them does not load on tau, and in dream it gets a load error saying so."""

from __future__ import annotations

from dream.wasm import abi

_IPFS = ("newIpfsClient", "ipfs")


def family(module: str, name: str) -> str | None:
    """The retired family `module.name` belongs to, or None."""
    if module != abi.SDK:
        return None
    if name.startswith("eth") and name[3:4].isupper():
        return "ethereum"
    if name.startswith(_IPFS) and (name == "newIpfsClient" or name[4:5].isupper()):
        return "ipfs client"
    return None


def message(label: str, imports: list[str]) -> str:
    """The load error of a module importing retired host functions."""
    names = ", ".join(imports[:4]) + (f" and {len(imports) - 4} more" if len(imports) > 4 else "")
    return (
        f"{label} imports {names}, from host-call families upstream's current host (tau) leaves out "
        "(ethereum and the old ipfs client); such a module does not load on tau either: remove those "
        "calls (use the HTTP client for outside services, storages for files)"
    )
