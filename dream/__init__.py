"""dream: a whole simulated Taubyte cloud on one machine."""

__version__ = "0.1.0"
