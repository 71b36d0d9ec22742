"""`exit_on_sigterm` (dream.testing.harness), which the benches use: SIGTERM unwinds a script through its
`finally` blocks, and a second SIGTERM while they run (one sent to `timeout` and to the script alike) no
longer cuts that clean-up short. Checked on a real child process and real signals."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from dream.testing.harness import wait_for

# Unwinds on SIGTERM; its clean-up waits (bounded) for the test's `go` file, then writes `cleaned`.
SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path
    from dream.testing.harness import exit_on_sigterm

    folder = Path(sys.argv[1])
    exit_on_sigterm()
    try:
        print("ready", flush=True)
        while True:
            signal.pause()
    finally:
        print("cleaning", flush=True)
        deadline = time.monotonic() + 30
        while not (folder / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        (folder / "cleaned").write_text("done")
    """
)


def test_a_second_sigterm_does_not_cut_the_clean_up_short(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGTERM)
        assert child.stdout.readline().strip() == "cleaning"
        child.send_signal(signal.SIGTERM)  # the second one, while the clean-up runs
        (tmp_path / "go").write_text("")
        assert child.wait(timeout=30) == 128 + signal.SIGTERM
        wait_for(lambda: (tmp_path / "cleaned").exists(), "the clean-up to finish", timeout=5)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
