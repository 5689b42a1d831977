"""Exceptions with messages meant for people: one line that names the file and the problem."""

from __future__ import annotations

from pathlib import Path


class NabenchError(Exception):
    """Base class for every error nabench raises on purpose."""


class SourceError(NabenchError):
    """An upstream file is missing, malformed, truncated or inconsistent."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class CorpusNotBuiltError(NabenchError):
    """A corpus was requested that has not been built into the local store."""


class UnknownNameError(NabenchError):
    """A name that no registry knows."""
