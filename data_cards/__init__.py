"""Data cards, one per corpus (Markdown with generated YAML front matter); shipped as package data."""
