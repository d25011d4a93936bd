"""Names of the application events the hub emits (Litestar's event emitter)."""

REGISTRY_CHANGED = "registry.changed"
"""Backends, models or grants changed: listeners reload their in-memory copies. Argument: the app."""
