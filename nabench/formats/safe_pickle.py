"""Reading upstream pickles without running their code.

Some benchmarks ship their data only as pickles. A pickle can run arbitrary code on load,
so nabench never calls plain ``pickle.load`` on them: :func:`restricted_load` resolves
only the globals it is given and refuses everything else.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any, Mapping

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


def restricted_load(path: Path, allowed: Mapping[tuple[str, str], Any]) -> Any:
    """Unpickle ``path`` allowing only the ``(module, name)`` globals in ``allowed``."""
    try:
        with open(path, "rb") as f:
            return _RestrictedUnpickler(f, allowed).load()
    except FileNotFoundError:
        raise SourceError(path, "file not found") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise SourceError(path, f"not a readable pickle of the expected kind (truncated or wrong file?): {e}") from None
