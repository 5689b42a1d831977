"""Encoders: ArchGraph → features (tabular, graph, text). Installed as ``nabench.encoders``."""
