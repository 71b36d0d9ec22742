"""Entry point of a node process (forked from the daemon's warmed zygote)."""

from __future__ import annotations

import asyncio
import ctypes
import importlib
import json
import logging
import os
import sys

from dream.node.config import NodeConfig
from dream.node.runtime import Node, install_signals

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def node_class(config: NodeConfig) -> type[Node]:
    if config.kind == "service":
        module = importlib.import_module(f"dream.{config.name}.service")
        return module.Service  # type: ignore[no-any-return]
    known = {"elder": "dream.simples.elder", "client": "dream.simples.client", "git": "dream.githost.service"}
    module = importlib.import_module(known.get(config.name, "dream.simples.client"))
    return module.Simple  # type: ignore[no-any-return]


def set_process_name(name: str) -> None:
    # Shows `dream:tns@blackhole` in ps/top (Linux truncates to 15 bytes).
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def redirect_output(config: NodeConfig) -> None:
    config.root_path.mkdir(parents=True, exist_ok=True)
    fd = os.open(config.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115


def run_node(config_json: str) -> None:
    config = NodeConfig.from_dict(json.loads(config_json))
    redirect_output(config)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if config.verbose else logging.INFO,
        format=LOG_FORMAT,
        force=True,
    )
    for noisy in ("httpx", "httpcore", "uvicorn", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    set_process_name(f"dream:{config.name}")
    log = logging.getLogger("dream.node")
    try:
        cls = node_class(config)
        node = cls(config)

        async def main() -> None:
            install_signals(node, asyncio.get_running_loop())
            await node.run()

        if cls.fast_loop:
            import uvloop

            uvloop.run(main())
        else:
            asyncio.run(main())
    except OSError as exc:
        log.error("%s cannot start: %s", config.label, exc)
        sys.exit(3)
    except Exception:
        log.exception("%s crashed", config.label)
        sys.exit(1)
    log.info("%s stopped", config.label)
