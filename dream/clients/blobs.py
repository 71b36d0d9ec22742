"""Blobs (hoarder's, and the storage files substrates keep) written to disk in chunks: a blob of any
size passes through a node without being held whole in memory. Shared by hoarder and the substrate.

Bytes arrive chunk by chunk (an upload's pieces, a download's chunks, a guest's memory read in place)
into a temporary file beside the blobs while their sha2-256 is computed; once whole, the CIDv1 is known
and the file is renamed to `<cid>`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CHUNK = 1 << 20  # bytes read or written at a time


def cid_of_digest(digest: bytes) -> str:
    """The CIDv1 (raw, sha2-256, base32) of bytes whose sha2-256 is `digest`."""
    from multiformats import CID, multihash

    return str(CID("base32", 1, "raw", multihash.wrap(digest, "sha2-256")))


class Spool:
    """A blob being received: its bytes go to a temporary file, hashed as they come."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f".{os.getpid()}.{id(self)}.tmp"
        self._file = open(self.path, "wb")  # noqa: SIM115 (closed by `close` or `keep`)
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes | memoryview) -> None:
        self._hash.update(chunk)
        self._file.write(chunk)
        self.size += len(chunk)

    def write_all(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        for start in range(0, len(view), CHUNK):
            self.write(view[start : start + CHUNK])

    @property
    def cid(self) -> str:
        return cid_of_digest(self._hash.digest())

    def keep(self, target: Path) -> None:
        """Make the received bytes the file `target` (kept as it is when it exists: same CID, same bytes)."""
        self._file.close()
        if target.exists():
            self.path.unlink(missing_ok=True)
        else:
            self.path.replace(target)

    def finish(self) -> Path:
        """The received bytes as the file at `path` (the caller removes it once read)."""
        self._file.close()
        return self.path

    def close(self) -> None:
        """Drop what was received (a refused or failed blob)."""
        self._file.close()
        self.path.unlink(missing_ok=True)
