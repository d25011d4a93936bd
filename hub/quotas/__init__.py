"""Quota policies: per-tenant limits, optionally narrowed per API key and per model."""
