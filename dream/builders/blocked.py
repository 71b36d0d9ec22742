"""Reads a failed step's output for what the sandbox blocked (network, paths outside it, writes), so the
job's error says why, instead of leaving the user with a bare "No such file or directory"."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

MAX_PATHS = 5  # at most this many blocked paths in an error; the full log has the rest
NETWORK = "blocked: network access (builds have no network; 127.0.0.1 is the sandbox's own)"

# Messages of curl, wget, Python, Go, Node/npm, git and the C library for a network that is not there.
# Inside the sandbox 127.0.0.1 is the sandbox's own loopback, where nothing listens: "connection refused".
_NETWORK = re.compile(
    r"network is unreachable|could not resolve|temporary failure in name resolution|name or service not"
    r" known|no address associated with hostname|name resolution|getaddrinfo|eai_again|enotfound|enetunreach"
    r"|econnrefused|connection refused|failed to connect|unable to connect|dial tcp|dial udp",
    re.IGNORECASE,
)
_READ_ONLY = re.compile(r"read-only file system|erofs", re.IGNORECASE)
_NOT_THERE = re.compile(
    r"no such file or directory|directory nonexistent|enoent|permission denied|eacces|not found",
    re.IGNORECASE,
)
_PATH = re.compile(r"(?<![\w.~$/-])(/[^\s'\"`:,;()\[\]{}<>|]+)")


def _inside(path: Path, dirs: Iterable[Path]) -> bool:
    return any(path == d or d in path.parents for d in dirs)


def blocked(lines: Sequence[str], *, work: Path, visible: Sequence[Path]) -> list[str]:
    """One "blocked: ..." sentence per thing the sandbox stopped, as far as the output shows it."""
    network = False
    found: list[str] = []

    def add(text: str) -> None:
        if text not in found:
            found.append(text)

    for line in lines:
        network = network or _NETWORK.search(line) is not None
        paths = [Path(m.rstrip(".")) for m in _PATH.findall(line)]
        if _READ_ONLY.search(line):
            for path in paths:
                if not _inside(path, [work]):
                    add(
                        f"blocked: writing {path} (read-only in the sandbox; only the job's folder is writable)"
                    )
        elif _NOT_THERE.search(line):
            for path in paths:
                if not _inside(path, visible):
                    add(f"blocked: {path} is outside the sandbox (builds do not see it)")
    return ([NETWORK] if network else []) + found[:MAX_PATHS]


def explain(lines: Sequence[str], *, work: Path, visible: Sequence[Path]) -> str:
    """The sandbox note and what was blocked, or "" when the failure shows no sign of the sandbox."""
    found = blocked(lines, work=work, visible=visible)
    if not found:
        return ""
    from dream.builders.sandbox import NOTE

    return "\n".join([NOTE, *found])
