"""`dream pubsub`: publish on a project's channels, and watch what is published on them."""

from __future__ import annotations

import base64
import json
import sys
from datetime import datetime
from pathlib import Path

import typer

from dream.cli import output
from dream.cli.common import JsonOpt, client
from dream.errors import DreamError
from dream.settings import DEFAULT_UNIVERSE

app = typer.Typer(help="Publish on pub-sub channels and watch them.", no_args_is_help=True)

UniverseOpt = typer.Option(DEFAULT_UNIVERSE, "--universe", "-u")
ProjectOpt = typer.Option(
    "", "--project", "-p", help="Project name or id (default: every project with a matching channel)"
)
TAIL_WAIT = 15.0  # seconds each of `tail`'s long-polls waits for a message


@app.command("publish")
def publish(
    channel: str = typer.Argument(..., help="Channel name, e.g. orders"),
    data: str = typer.Argument(None, help="The message (text); or --file"),
    file: Path = typer.Option(None, "--file", "-f", help="Read the message from a file (- for stdin)"),
    project: str = ProjectOpt,
    universe: str = UniverseOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Publish a message: every function subscribed to the channel runs with it, and its websocket
    clients get it."""
    if file is not None:
        try:
            message = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
        except OSError as exc:
            raise DreamError(f"cannot read {file}: {exc.strerror}") from None
    elif data is not None:
        message = data.encode()
    else:
        raise DreamError("give the message as an argument, or --file PATH (--file - reads stdin)")
    with client() as api:
        found = api.publish(universe, channel, message, project=project)
    if as_json:
        output.dump_json(found)
        return
    count = found.get("functions")
    to = f" to {count} function(s)" if count is not None else ""
    print(f"published {len(message)} bytes on `{channel}` in {', '.join(found['projects'])}{to}")


@app.command("tail")
def tail(
    channel: str = typer.Argument("", help="Channel name (default: every channel)"),
    project: str = ProjectOpt,
    universe: str = UniverseOpt,
    count: int = typer.Option(0, "--count", "-n", help="Stop after this many messages (0: never)"),
    as_json: bool = JsonOpt,
) -> None:
    """Print each message published from now on, one line each: time, project, channel, source, data."""
    seen = 0
    with client() as api:
        found = api.tail(universe, channel, project=project)
        after, peer = found["seq"], found["peer"]
        while True:
            found = api.tail(universe, channel, project=project, after=after, wait=TAIL_WAIT, peer=peer)
            after, peer = found["seq"], found["peer"]
            for message in found["messages"]:
                data = base64.b64decode(message["data"])
                if as_json:
                    print(json.dumps(message, sort_keys=True), flush=True)
                else:
                    when = datetime.fromtimestamp(message["at"]).strftime("%H:%M:%S.%f")[:-3]
                    text = data.decode(errors="replace")
                    print(
                        f"{when} {message['project']} {message['channel']} {message['source']}: {text}",
                        flush=True,
                    )
                seen += 1
                if count and seen >= count:
                    return
