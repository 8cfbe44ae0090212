"""Helpers for the integration tests: a real registry process and real multi-arch images."""
