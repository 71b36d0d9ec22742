"""`exit_on_sigterm` (dream.testing.harness), which the benches use: SIGTERM unwinds a script through its
`finally` blocks, and a second SIGTERM while they run (one sent to `timeout` and to the script alike) no
longer cuts that clean-up short. Checked on a real child process and real signals."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

# Unwinds on SIGTERM; its clean-up waits for a line from the test on stdin, then writes `cleaned`.
SCRIPT = textwrap.dedent(
    """
    import signal, sys
    from pathlib import Path
    from dream.testing.harness import exit_on_sigterm

    exit_on_sigterm()
    try:
        print("ready", flush=True)
        while True:
            signal.pause()
    finally:
        print("cleaning", flush=True)
        sys.stdin.readline()  # the test's go-ahead, once it has sent the second SIGTERM
        (Path(sys.argv[1]) / "cleaned").write_text("done")
    """
)


def test_a_second_sigterm_does_not_cut_the_clean_up_short(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGTERM)
        assert child.stdout.readline().strip() == "cleaning"
        child.send_signal(signal.SIGTERM)  # the second one, while the clean-up runs
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.wait(timeout=30) == 128 + signal.SIGTERM
        assert (tmp_path / "cleaned").read_text() == "done"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
