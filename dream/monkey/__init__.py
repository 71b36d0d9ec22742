"""The monkey service."""
