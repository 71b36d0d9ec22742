"""The `dream` command line: a thin layer over `dream.client.DreamClient`."""

# Only the `dream` command imports this package: before its modules load httpx (see the module).
from dream import unused_imports

unused_imports.skip()
