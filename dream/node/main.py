"""The main of a node process (forked from the daemon's warmed zygote): its log, its name, its node class."""

from __future__ import annotations

import asyncio
import errno
import importlib
import json
import logging
import sys

from dream.node import exits
from dream.node.config import NodeConfig
from dream.node.runtime import Node, install_signals
from dream.process.child import redirect_output, set_process_name

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def node_class(config: NodeConfig) -> type[Node]:
    if config.kind == "service":
        module = importlib.import_module(f"dream.{config.name}.service")
        return module.Service
    known = {"elder": "dream.simples.elder", "client": "dream.simples.client", "git": "dream.githost.service"}
    module = importlib.import_module(known.get(config.name, "dream.simples.client"))
    return module.Simple


def run_node(config_json: str) -> None:
    config = NodeConfig.from_dict(json.loads(config_json))
    redirect_output(config.log_path)
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
        sys.exit(exits.PORT_TAKEN if exc.errno == errno.EADDRINUSE else exits.CANNOT_START)
    except Exception:
        log.exception("%s crashed", config.label)
        sys.exit(exits.CRASHED)
    log.info("%s stopped", config.label)
