"""Benchmark: what checking a request body costs on tns's hot routes (a substrate's first request fetches).

Compares the checked parse of `/tns/fetch` and `/tns/fetch-many` bodies (dream.node.validate) with
`json.loads` alone, best of 7 rounds.

Usage: .venv/bin/python bench/validation.py [rounds of calls]
"""

from __future__ import annotations

import json
import sys
import timeit
from collections.abc import Callable
from typing import Any

from dream.clients import tns
from dream.tns.service import FETCH, FETCH_MANY

FETCH_BODY = json.dumps({"path": "projects/QmYwAPJzv5CZsnA/branches/main/current"}).encode()
# A substrate resolving a host asks for dozens of paths in one call.
MANY_BODY = json.dumps({"paths": [f"http/functions/com/computers/hal/links/{i}" for i in range(30)]}).encode()


def best_us(call: Callable[[], Any], number: int) -> float:
    return min(timeit.repeat(call, number=number, repeat=7)) / number * 1e6


def main() -> None:
    number = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    rows = [
        (f"{tns.FETCH} (1 path)", FETCH.parse, FETCH_BODY, number),
        (f"{tns.FETCH_MANY} (30 paths)", FETCH_MANY.parse, MANY_BODY, max(number // 10, 1)),
    ]
    for name, parse, body, calls in rows:
        checked = best_us(lambda parse=parse, body=body: parse(body, "bench"), calls)  # type: ignore[misc]
        loads = best_us(lambda body=body: json.loads(body), calls)  # type: ignore[misc]
        print(f"{name}: checked parse {checked:.1f} us, json.loads alone {loads:.1f} us")


if __name__ == "__main__":
    main()
