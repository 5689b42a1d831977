"""Reading upstream pickles without running their code.

Some benchmarks ship their data only as pickles. A pickle can run arbitrary code on load,
so nabench never calls plain ``pickle.load`` on them: :func:`restricted_load` resolves
only the globals it is given and refuses everything else.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any, Callable, Mapping

from nabench.errors import SourceError


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BufferedIOBase, allowed: Mapping[tuple[str, str], Any]):
        super().__init__(file)
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}") from None


class Record:
    """A plain stand-in for an upstream class: keeps its attributes, runs none of its code."""

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


def stand_in(name: str) -> type:
    """A fresh :class:`Record` subclass named like the upstream class."""
    return type(name, (Record,), {})


def restricted_load(
    path: Path, allowed: Mapping[tuple[str, str], Any], *, opener: Callable[..., Any] = open, what: str = "pickle",
) -> Any:
    """Unpickle ``path`` allowing only the ``(module, name)`` globals in ``allowed``.

    ``opener`` opens the file (e.g. ``bz2.open`` for compressed pickles); every failure is a
    :class:`SourceError` naming the file, described as ``what``.
    """
    path = Path(path)
    if not path.is_file():
        raise SourceError(path, "file not found")
    try:
        with opener(path, "rb") as f:
            return _RestrictedUnpickler(f, allowed).load()
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError) as e:
        raise SourceError(path, f"not a readable {what} (truncated or wrong file?): {e}") from None
