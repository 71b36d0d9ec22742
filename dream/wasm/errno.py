"""The `taubyte/sdk` errno values (u32, go-sdk errno/types.go declaration order) that the HTTP host uses."""

from __future__ import annotations

NONE = 0
EVENT_NOT_FOUND = 1
BUFFER_TOO_SMALL = 2
ADDRESS_OUT_OF_MEMORY = 3  # a guest pointer/length outside the exported memory
NIL_ADDRESS = 4
HTTP_WRITE = 5  # also: status code outside 100..999
HTTP_READ_BODY = 6
CLOSE_BODY = 7
EOF = 8
MEMORY_WRITE_FAILED = 12  # an out-param (size/count pointer) could not be written
ZERO_SIZE = 50
