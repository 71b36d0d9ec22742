"""The daemon's per-home token: what a caller shows to change state (POST, PUT, PATCH, DELETE).

One token per dream home, in a file only its owner can read (0600). The daemon makes it on first start and
keeps it across restarts; the CLI and `DreamClient` read it from the same file. A process that cannot read
the file (another user, a web page) cannot change anything.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import stat
from pathlib import Path

TOKEN_FILE = "daemon.token"
TOKEN_MODE = 0o600
_VALID = re.compile(r"[0-9a-f]{64}")

log = logging.getLogger("dream.daemon")


def token_path(home: Path) -> Path:
    return home / TOKEN_FILE


def read_token(home: Path) -> str | None:
    """The home's token, or None when there is none yet (or the file is not one dream wrote)."""
    try:
        text = token_path(home).read_text().strip()
    except OSError:
        return None
    return text if _VALID.fullmatch(text) else None


def ensure_token(home: Path) -> str:
    """The home's token, made on first use; its file is made owner-only if it was not."""
    home.mkdir(parents=True, exist_ok=True)
    path = token_path(home)
    token = read_token(home)
    if token is None:
        token = _create(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode != TOKEN_MODE:
        log.warning("%s was readable by others (mode %o): made it 0600", path, mode)
        os.chmod(path, TOKEN_MODE)
    return token


def _create(path: Path) -> str:
    # Written whole under another name, then linked into place: a reader never sees half a token, and of
    # two daemons starting on one home at once, the first link wins and both use its token.
    token = secrets.token_hex(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, TOKEN_MODE)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(token + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            existing = read_token(path.parent)
            if existing is not None:
                return existing
            os.replace(tmp, path)  # a file that holds no token: replaced
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return token
