"""The `dream` command line: a thin layer over `dream.client.DreamClient`."""
