"""Simples: lightweight nodes that carry clients (client) or bootstrap the universe (elder)."""
