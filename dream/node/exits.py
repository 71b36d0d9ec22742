"""The exit codes a node process ends with that the daemon acts on."""

from __future__ import annotations

# A port the daemon chose for the node was taken before the node could listen on it (another program
# bound it in between): the daemon chooses again and starts the node anew.
PORT_TAKEN = 4
# Any other error at start-up (a bad folder, a port the user fixed that is in use, ...).
CANNOT_START = 3
# A crash after start-up.
CRASHED = 1
