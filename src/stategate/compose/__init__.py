"""Compose files to typed models, with compose's own semantics."""
