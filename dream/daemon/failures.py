"""What the daemon answers when a route fails unexpectedly, and the disk reserve that lets it say so.

Every failure is answered in the API's shape `{"code", "error"}` with a sentence, and its traceback goes
to the daemon's log. A full disk (ENOSPC) is named as such, with the dream home and the path that could
not be written. So that the daemon can still write that log line when the disk is full, it keeps a small
preallocated file in the dream home (`DISK_RESERVE_FILE`, `DISK_RESERVE_BYTES`) and frees it on ENOSPC;
it takes the reserve back once there is room again.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from dream.errors import DreamError

DISK_RESERVE_FILE = "disk-reserve"
DISK_RESERVE_BYTES = 4 << 20
# How often the daemon tries to take its reserve back after freeing it.
RESERVE_RETRY_SECONDS = 10.0
# How git and other tools spell ENOSPC in their error output.
NO_SPACE_TEXT = "no space left on device"

log = logging.getLogger("dream.daemon")


class DiskReserve:
    """A preallocated file in the dream home, freed when a write fails for want of space."""

    def __init__(self, home: Path, size: int = DISK_RESERVE_BYTES) -> None:
        self.path = home / DISK_RESERVE_FILE
        self.size = size
        self._next_try = 0.0

    def keep(self) -> bool:
        """Make sure the reserve exists (allocated, not sparse); False when there is no room for it."""
        try:
            if self.path.stat().st_size == self.size:
                return True
        except FileNotFoundError:
            pass
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.size)
            finally:
                os.close(fd)
        except OSError:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self._next_try = time.monotonic() + RESERVE_RETRY_SECONDS
            return False
        self._next_try = 0.0
        return True

    def release(self) -> bool:
        """Free the reserve; True when it was there."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        self._next_try = time.monotonic() + RESERVE_RETRY_SECONDS
        return True

    def retake(self) -> None:
        """Take the reserve back if it was freed and it is time to try again (cheap otherwise)."""
        if self._next_try and time.monotonic() >= self._next_try:
            self.keep()


def no_space(exc: BaseException) -> OSError | DreamError | None:
    """The ENOSPC behind an exception (its cause chain included), or None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno == errno.ENOSPC:
            return current
        if isinstance(current, DreamError) and NO_SPACE_TEXT in str(current).lower():
            return current
        current = current.__cause__ or current.__context__
    return None


def log_destination() -> str:
    """Where this daemon's log lines go, as a user would look for them."""
    with contextlib.suppress(OSError):
        target = os.readlink("/proc/self/fd/1")
        if target.startswith("/") and Path(target).is_file():
            return target
    return "the daemon's output"


class Failures:
    """Turns a route's failure into (status, sentence), logging it with its traceback."""

    def __init__(self, home: Path, reserve: DiskReserve) -> None:
        self.home = home
        self.reserve = reserve

    def answer(
        self, exc: BaseException, method: str, path: str, paths: Sequence[Path] = ()
    ) -> tuple[int, str]:
        """`paths`: where the request wrote besides the dream home (named when the error does not say)."""
        full = no_space(exc)
        if full is not None:
            return 507, self._full_disk(full, method, path, paths)
        if isinstance(exc, DreamError):
            return 400, str(exc)
        sentence = (
            f"the daemon failed while handling {method} {path}: {type(exc).__name__}: {exc}; "
            f"the traceback is in {log_destination()}"
        )
        log.error("%s", sentence, exc_info=exc, extra={"traceback": True})
        return 500, sentence

    def _full_disk(self, full: OSError | DreamError, method: str, path: str, paths: Sequence[Path]) -> str:
        # Which disk is full is read before the reserve is freed (which makes room on the home's disk).
        where = getattr(full, "filename", None)
        if isinstance(full, DreamError):
            what = str(full)
        elif where:
            what = f"could not write {where}"
        else:
            filled = [p for p in [*paths, self.home] if _nearly_full(p)]
            what = f"could not write to {filled[0]}" if filled else "a write failed"
        outside = any(not str(p).startswith(str(self.home)) for p in paths)
        sentence = (
            f"no space left on device: {what} while handling {method} {path}; free some space on the disk "
            f"that holds the dream home {self.home}"
            + (" or the project's path" if outside else "")
            + ", then try again"
        )
        # Room for the log line: the reserve is on the same disk as the home (and its log, by default).
        freed = self.reserve.release()
        log.error("%s%s", sentence, " (freed the disk reserve to report it)" if freed else "")
        return sentence


def _nearly_full(path: Path) -> bool:
    """Whether the disk that holds `path` (or its nearest existing parent) has under 1 MiB free."""
    for candidate in (path, *path.parents):
        with contextlib.suppress(OSError):
            return shutil.disk_usage(candidate).free < (1 << 20)
    return False
