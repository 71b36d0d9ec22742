"""Which process a pid is: a pid is reused once its process is gone, the pid with its start time is not."""

from __future__ import annotations


def process_start(pid: int) -> str:
    """The kernel's start time of `pid` ('' if it does not exist): pid plus this identifies a process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return ""
    # Fields after the parenthesised command name (which may contain spaces): state is field 3,
    # starttime field 22. A zombie has exited already, whatever its pid still says.
    fields = stat[stat.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return ""
    return fields[19].decode()
