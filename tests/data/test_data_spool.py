"""The daemon's data spool (streamed storage files on their way) starts empty."""

from __future__ import annotations

from pathlib import Path

from dream.daemon.app import build_app
from dream.daemon.multiverse import Multiverse
from dream.daemon.routes.data import SPOOL


def test_a_file_left_in_the_spool_by_a_daemon_that_died_is_dropped_at_the_next_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    left = home / SPOOL / ".4242.1.tmp"
    left.parent.mkdir(parents=True)
    left.write_bytes(b"half a file")
    kept = home / "universes" / "kept.txt"  # nothing else of the home is touched
    kept.parent.mkdir(parents=True)
    kept.write_text("stays")
    build_app(Multiverse(home=home, port=1), on_shutdown=lambda: None)
    assert not (home / SPOOL).exists()
    assert kept.read_text() == "stays"
