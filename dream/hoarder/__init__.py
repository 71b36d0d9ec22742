"""The hoarder service."""
