"""The seer service."""
