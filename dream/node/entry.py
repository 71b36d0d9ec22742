"""The target the daemon hands its zygote: importing this is cheap, so the daemon need not load a node."""

from __future__ import annotations


def run(config_json: str) -> None:
    from dream.node.main import run_node

    run_node(config_json)
