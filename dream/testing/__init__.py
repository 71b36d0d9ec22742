"""Test helpers: a daemon and universes as pytest fixtures (plugin `dream.testing.plugin`)."""

from dream.testing.harness import DaemonProcess, UniverseHandle

__all__ = ["DaemonProcess", "UniverseHandle"]
