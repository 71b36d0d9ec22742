"""`dream console`: print (and with `--open`, open) the address that signs a browser in to the dashboard
the daemon serves. The address carries the daemon's token after a `#`: the page trades it for a session
cookie and takes it out of the address bar (docs/console.md)."""

from __future__ import annotations

import typer

from dream.api_token import read_token
from dream.cli.common import client
from dream.errors import DreamError
from dream.settings import dream_home


def console(
    open_browser: bool = typer.Option(False, "--open", help="Open it in the default browser"),
) -> None:
    """Print the address of the dashboard, signed in."""
    with client() as api:
        if not api.ping():
            raise DreamError(api.not_running())
        base = api.url
    token = read_token(dream_home())
    if token is None:
        raise DreamError(f"no daemon token in {dream_home()}: start the daemon with `dream new multiverse`")
    address = f"{base}/console/login#{token}"
    print(address)
    if open_browser:
        import webbrowser

        webbrowser.open(address)
