"""One registry mechanism for corpora, predictors, encoders, proxies and tasks.

Built-ins and third-party plugins are both declared as entry points in the group
``nabench.<kind>`` and loaded lazily, on first use of a name. Notebooks can add an
object with the :meth:`Registry.register` decorator.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Callable, TypeVar

from nabench.errors import UnknownNameError

T = TypeVar("T")


class Registry:
    """Names to objects for one kind (e.g. ``corpora``)."""

    def __init__(self, kind: str):
        self.kind = kind
        self.group = f"nabench.{kind}"
        self._registered: dict[str, Any] = {}

    def _entry_points(self) -> dict[str, Any]:
        return {ep.name: ep for ep in entry_points(group=self.group)}

    def names(self) -> list[str]:
        """All known names, sorted."""
        return sorted(set(self._entry_points()) | set(self._registered))

    def get(self, name: str) -> Any:
        """The object registered under ``name``; imports its module only now."""
        if name in self._registered:
            return self._registered[name]
        eps = self._entry_points()
        if name not in eps:
            known = ", ".join(self.names()) or "none"
            raise UnknownNameError(f"no {self.kind} entry named '{name}' (known: {known})")
        try:
            return eps[name].load()
        except ImportError as e:
            raise UnknownNameError(f"{self.kind} entry '{name}' ({eps[name].value}) failed to import: {e}") from e

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers an object under ``name`` for this process."""

        def decorate(obj: T) -> T:
            self._registered[name] = obj
            return obj

        return decorate


corpora = Registry("corpora")
#: corpus ``space`` value -> module exposing ``from_record(record, corpus, *, weights=None, metadata=None)``
spaces = Registry("spaces")
#: predictor name -> class following :class:`nabench.predictors.base.Predictor`
predictors = Registry("predictors")
#: encoder name -> class (scikit-learn transformer over ArchGraph lists)
encoders = Registry("encoders")
#: zero-cost proxy name -> proxy object (``name``, ``higher_is_better``, ``score``)
proxies = Registry("proxies")
