"""The daemon's REST API, one module per area; each module's `routes()` lists its paths."""
