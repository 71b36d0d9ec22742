"""The substrate service."""
