"""Shared test settings: dream's own pytest plugin provides the daemon and universe fixtures."""
