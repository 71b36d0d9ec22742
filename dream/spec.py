"""What a Taubyte universe is made of: services, simples, clients, and which ports each node opens."""

from __future__ import annotations

from typing import TypedDict

# Upstream order (pkg/specs/common Services).
SERVICES: tuple[str, ...] = ("auth", "patrick", "monkey", "tns", "hoarder", "substrate", "seer", "gateway")
SIMPLES: tuple[str, ...] = ("elder", "client", "git")
# Services a simple can carry a client for (upstream's p2p-stream client list).
CLIENTS: tuple[str, ...] = ("seer", "auth", "patrick", "tns", "monkey", "hoarder", "substrate")

# Services that serve a public HTTP port (upstream HTTPServices).
HTTP_SERVICES: frozenset[str] = frozenset({"auth", "patrick", "seer", "substrate", "gateway"})
# Services that also serve HTTPS (TLS with each domain's certificate from auth) on an `https` port.
HTTPS_SERVICES: frozenset[str] = frozenset({"substrate", "gateway"})
# Seer answers DNS.
DNS_SERVICES: frozenset[str] = frozenset({"seer"})
# Protocols a user may bind with --bind name@PORT/<protocol>; `copies` and `verbose` are settings, not ports.
PORT_PROTOCOLS: tuple[str, ...] = ("http", "p2p", "dns", "https")
SETTINGS: tuple[str, ...] = ("copies", "verbose")
VALID_SUB_BINDS: tuple[str, ...] = PORT_PROTOCOLS + SETTINGS


# Simples with more than a p2p port: `git`, the universe's stand-in for GitHub, serves smart HTTP.
SIMPLE_PROTOCOLS: dict[str, tuple[str, ...]] = {"git": ("http", "p2p")}


def protocols_of_simple(name: str) -> tuple[str, ...]:
    return SIMPLE_PROTOCOLS.get(name, ("p2p",))


def protocols_of(service: str) -> tuple[str, ...]:
    """The ports a node of `service` listens on."""
    protocols = ["p2p"]
    if service in HTTP_SERVICES:
        protocols.append("http")
    if service in HTTPS_SERVICES:
        protocols.append("https")
    if service in DNS_SERVICES:
        protocols.append("dns")
    return tuple(sorted(protocols))


class VariableSpec(TypedDict):
    """One variable of a fixture: `--<name>` and `-<alias>` (or `--<alias>`) on the CLI."""

    name: str
    alias: str
    description: str
    required: bool


class FixtureSpec(TypedDict):
    """A fixture as `GET /spec/fixtures/details` describes it: camelCase `name` on the API, kebab-case
    `cli_name` on the CLI; its variables in the order of the API's positional `params`."""

    name: str
    cli_name: str
    description: str
    internal: bool
    variables: list[VariableSpec]
