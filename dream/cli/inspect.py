"""`dream inspect`: the request inspector in the terminal (the last requests a universe served, what
each cost), `--follow` to keep printing new ones, `--json` for one JSON object per line."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import typer

from dream.cli.common import client
from dream.settings import DEFAULT_UNIVERSE

# How often `--follow` asks the daemon for new records.
FOLLOW_INTERVAL = 0.5

HEADER = f"{'time':<12} {'method':<7} {'status':>6} {'total':>9} {'wasm':>9} {'inst':>9} {'pages':>5} {'in':>6} {'out':>6}  host/path  (function, substrate, gateway, host calls)"


def _ms(value: Any) -> str:
    return f"{value:.3f}ms" if isinstance(value, (int, float)) else "-"


def line(record: dict[str, Any]) -> str:
    """One record as a table row."""
    stamp = (
        time.strftime("%H:%M:%S", time.localtime(record["time"])) + f".{int(record['time'] % 1 * 1000):03d}"
    )
    calls = record.get("host_calls") or {}
    where = ", ".join(
        part
        for part in (
            record.get("function") and f"fn {record['function']}",
            record.get("substrate") and f"on {record['substrate']}",
            record.get("gateway") and f"via {record['gateway']}",
            calls and "calls " + " ".join(f"{k}={v}" for k, v in sorted(calls.items())),
        )
        if part
    )
    dash = "-"
    return (
        f"{stamp:<12} {record['method']:<7} {record['status']:>6} {_ms(record['total_ms']):>9} "
        f"{_ms(record['wasm_ms']):>9} {_ms(record['instantiate_ms']):>9} {record.get('pages') or dash:>5} "
        f"{record.get('bytes_in') if record.get('bytes_in') is not None else dash:>6} "
        f"{record.get('bytes_out') if record.get('bytes_out') is not None else dash:>6}  "
        f"{record['host']}{record['path']}" + (f"  ({where})" if where else "")
    )


def inspect(
    universe: str = typer.Option(DEFAULT_UNIVERSE, "--universe", "-u"),
    function: str = typer.Option("", "--function", help="Only the calls of this function (its name)"),
    limit: int = typer.Option(50, "--limit", "-n", help="How many of the last records to show (1-1000)"),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new requests"),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per record, one per line"),
) -> None:
    """Show the last requests the universe's substrates and gateways served, and what each cost."""
    with client() as api:
        since = 0.0
        printed_header = False
        while True:
            answer = api.inspect(universe, since=since, function=function, limit=limit)
            for problem in answer["errors"]:
                print(f"not read: {problem}", file=sys.stderr)
            for record in answer["requests"]:
                if as_json:
                    print(json.dumps(record, sort_keys=True))
                else:
                    if not printed_header:
                        print(HEADER)
                        printed_header = True
                    print(line(record))
                since = max(since, record["time"])
            sys.stdout.flush()
            if not follow:
                if not answer["requests"] and not as_json:
                    print(f"no requests recorded in universe `{universe}` yet")
                return
            time.sleep(FOLLOW_INTERVAL)
