"""Readers for upstream file formats (official and as found in public snapshots)."""
