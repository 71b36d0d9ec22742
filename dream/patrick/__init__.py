"""The patrick service."""
