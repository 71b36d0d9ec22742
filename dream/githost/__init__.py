"""The universe's git host: it stands in for GitHub (bare repositories, smart HTTP, push webhooks)."""
