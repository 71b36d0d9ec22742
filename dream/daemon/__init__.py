"""The multiverse daemon: a REST API on :1421 that creates universes and supervises their node processes."""
