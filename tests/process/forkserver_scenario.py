"""Run as a script by test_forkserver.py: the fork server is one per process, so it gets one of its own."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from dream.process import forkserver
from dream.process.identity import process_start

PRELOAD = ["tests.process.children"]


def wait_exit(process: object) -> int | None:
    process.join(30)  # type: ignore[attr-defined]  # waits on its sentinel: wakes when it exits
    return forkserver.exit_code(process)  # type: ignore[arg-type]


def main() -> None:
    log_path = sys.argv[1]
    forkserver.start(PRELOAD)
    server = forkserver.pid_and_start()
    from tests.process.children import settle_and_exit

    child = forkserver.spawn(PRELOAD, settle_and_exit, (log_path, "dream:test-child", 3), "settler")
    settled = wait_exit(child)
    sleeper = forkserver.spawn(PRELOAD, time.sleep, (60,), "sleeper")
    running = forkserver.exit_code(sleeper)
    os.kill(sleeper.pid, signal.SIGKILL)  # type: ignore[arg-type]
    killed = wait_exit(sleeper)
    try:
        forkserver.spawn(["json"], time.sleep, (0,), "other")
        other = "spawned"
    except ValueError as exc:
        other = str(exc)
    print(
        json.dumps(
            {
                "server": server,
                "server_start_now": process_start(int(server["pid"])),
                "settled": settled,
                "running": running,
                "killed": killed,
                "other": other,
            }
        )
    )


if __name__ == "__main__":
    main()
