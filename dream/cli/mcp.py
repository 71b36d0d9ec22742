"""`dream mcp`: print the configuration that points an MCP client at the daemon's MCP server (`/mcp`,
streamable HTTP), with the daemon's token as its bearer token."""

from __future__ import annotations

import json

import typer

from dream.api_token import read_token
from dream.cli.common import client
from dream.errors import DreamError
from dream.settings import dream_home

CLIENTS = ("all", "claude-code", "claude-desktop", "cursor", "vscode", "json")


def snippets(url: str, token: str) -> dict[str, str]:
    """The configuration of each common MCP client, as text to paste."""
    auth = {"Authorization": f"Bearer {token}"}
    servers = {"dream": {"type": "http", "url": url, "headers": auth}}
    return {
        "claude-code": (
            f'claude mcp add --transport http dream {url} --header "Authorization: Bearer {token}"'
        ),
        # Claude Desktop speaks stdio to its servers: mcp-remote bridges it to streamable HTTP.
        "claude-desktop": json.dumps(
            {
                "mcpServers": {
                    "dream": {
                        "command": "npx",
                        "args": ["-y", "mcp-remote", url, "--header", f"Authorization: Bearer {token}"],
                    }
                }
            },
            indent=2,
        ),
        "cursor": json.dumps({"mcpServers": {"dream": {"url": url, "headers": auth}}}, indent=2),
        "vscode": json.dumps({"servers": servers}, indent=2),
        "json": json.dumps({"url": url, "transport": "streamable-http", "headers": auth}, indent=2),
    }


WHERE = {
    "claude-code": "Claude Code (run it):",
    "claude-desktop": "Claude Desktop (claude_desktop_config.json; needs Node.js for mcp-remote):",
    "cursor": "Cursor (~/.cursor/mcp.json or .cursor/mcp.json):",
    "vscode": "VS Code (.vscode/mcp.json):",
    "json": "Any other client (URL, transport, headers):",
}


def mcp(
    for_client: str = typer.Option(
        "all", "--client", help=f"Only the snippet of one client: {', '.join(CLIENTS)}"
    ),
) -> None:
    """Print the MCP client configuration for this daemon's MCP server."""
    if for_client not in CLIENTS:
        raise DreamError(f"unknown client `{for_client}`: choose one of {', '.join(CLIENTS)}")
    with client() as api:
        url = f"{api.url}/mcp"
    token = read_token(dream_home())
    if token is None:
        raise DreamError(f"no daemon token in {dream_home()}: start the daemon with `dream new multiverse`")
    found = snippets(url, token)
    if for_client != "all":
        print(found[for_client])
        return
    for name, text in found.items():
        print(WHERE[name])
        print(text)
        print()
    print(f"The token is the daemon's ({dream_home() / 'daemon.token'}): keep these snippets private.")
