"""`python -m dream.daemon.resume PID START SECONDS`: resume a paused node after SECONDS, whatever becomes of
the daemon that paused it (`dream chaos pause` starts one of these beside its own timer; the pid is only
signalled while it is still the same process, by its start time)."""

from __future__ import annotations

import os
import signal
import sys
import time

from dream.process.identity import process_start


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write("usage: python -m dream.daemon.resume PID START SECONDS\n")
        return 2
    pid, start, seconds = int(argv[0]), argv[1], float(argv[2])
    time.sleep(max(0.0, seconds))
    if process_start(pid) == start:
        os.kill(pid, signal.SIGCONT)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
