"""Releases: images built once and pushed by digest, and models promoted to a stack's endpoint."""
