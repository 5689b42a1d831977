"""The predictor contract every nabench predictor follows.

A predictor is a scikit-learn estimator over architectures: ``fit(X, y) -> self`` and
``predict(X) -> ndarray`` where ``X`` is a sequence of :class:`~nabench.graph.ArchGraph` (the
one view every encoder reads) and ``y`` a 1-D float array (higher is better for rankings).
Constructor arguments are stored unchanged as attributes (``get_params``/``set_params``,
``clone`` and ``GridSearchCV`` then work); fitted state lives in attributes ending in ``_``.

``save(dir)`` writes ``config.json`` (registry name, nabench version, ``get_params()``) plus
whatever the predictor's :meth:`Predictor._save_state` writes (native model formats,
safetensors, JSON) — never pickle. :func:`load` reads it back.

What a predictor needs is said by :class:`PredictorTags` (``nabench_tags()``), which runners
and the leaderboard read instead of guessing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from nabench.errors import NabenchError

CONFIG_FILE = "config.json"


class PredictorError(NabenchError):
    """Bad input to a predictor, or a saved predictor that cannot be read back."""


@dataclass(frozen=True)
class PredictorTags:
    """What a predictor needs.

    ``requires_fit``: trained on labels (``False`` for baselines and zero-cost proxies, which
    score architectures directly; ``fit`` is then a no-op that still returns ``self``).
    ``needs_gpu``: refuses to run without one. ``proxy_columns``: zero-cost proxy names it reads
    as extra inputs. ``pretrained_on``: corpora whose unlabeled graphs it pretrains on.
    ``family``: one of ``baseline, gbdt, gnn, text, contrastive, zc, ensemble``.
    """

    family: str
    requires_fit: bool = True
    needs_gpu: bool = False
    proxy_columns: tuple[str, ...] = ()
    pretrained_on: tuple[str, ...] = ()


class Predictor(RegressorMixin, BaseEstimator):
    """Base class: subclasses implement ``fit``, ``predict``, ``_save_state`` and ``_load_state``."""

    #: the name under which the class is registered (entry point group ``nabench.predictors``)
    registry_name: str = ""
    #: parameters added after models were first saved, each with the value that reproduces a model
    #: saved without it; :func:`load` fills them in where a ``config.json`` lacks them
    params_added_later: ClassVar[dict[str, Any]] = {}

    def nabench_tags(self) -> PredictorTags:
        raise NotImplementedError

    @classmethod
    def nabench_test_params(cls) -> dict[str, Any]:
        """Constructor arguments that make this predictor quick on a few dozen graphs (fewer trees,
        epochs); the conformance suite (:mod:`nabench.predictors.conformance`) uses them."""
        return {}

    def fit(self, X: Sequence, y: Any) -> "Predictor":
        raise NotImplementedError

    def predict(self, X: Sequence) -> np.ndarray:
        raise NotImplementedError

    def _config_params(self) -> dict[str, Any]:
        """The parameters written to ``config.json`` (``get_params(deep=False)``); a predictor whose
        parameters include data (e.g. a DataFrame) replaces them by a reference here, writes the
        data in :meth:`_save_state` and restores it in :meth:`_load_state`."""
        return self.get_params(deep=False)

    def _save_state(self, directory: Path) -> None:
        """Write the fitted state into ``directory`` (no pickle)."""
        raise NotImplementedError

    def _load_state(self, directory: Path) -> None:
        """Read back what :meth:`_save_state` wrote and set the fitted attributes."""
        raise NotImplementedError

    def save(self, directory: str | Path) -> Path:
        """Write ``config.json`` and the fitted state into ``directory`` (created if missing)."""
        from nabench import __version__

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = {"predictor": self.registry_name, "nabench_version": __version__,
                  "params": self._config_params(), "tags": asdict(self.nabench_tags())}
        try:
            text = json.dumps(config, indent=2, sort_keys=True)
        except TypeError as e:
            raise PredictorError(f"{type(self).__name__}: parameters must be JSON-serializable to save: {e}") from e
        self._save_state(directory)
        (directory / CONFIG_FILE).write_text(text + "\n", encoding="utf-8")
        return directory


def check_targets(X: Sequence, y: Any) -> np.ndarray:
    """``y`` as a finite 1-D float64 array as long as ``X``, or a :class:`PredictorError`."""
    arr = np.asarray(y, dtype=np.float64)
    if arr.ndim != 1:
        raise PredictorError(f"y must be 1-D, got shape {arr.shape}")
    if len(arr) != len(X):
        raise PredictorError(f"X has {len(X)} architectures but y has {len(arr)} values")
    if len(arr) == 0:
        raise PredictorError("cannot fit on zero architectures")
    if not np.all(np.isfinite(arr)):
        raise PredictorError(f"y has {int((~np.isfinite(arr)).sum())} NaN or infinite values")
    return arr


def check_graphs(X: Sequence) -> list:
    """``X`` as a list of :class:`~nabench.graph.ArchGraph`, or a :class:`PredictorError` naming the bad item."""
    from nabench.graph import ArchGraph

    if isinstance(X, ArchGraph) or isinstance(X, (str, bytes)):
        raise PredictorError("X must be a sequence of ArchGraph, not a single graph")
    try:
        items = list(X)
    except TypeError:
        raise PredictorError(f"X must be a sequence of ArchGraph, got {type(X).__name__}") from None
    for i, g in enumerate(items):
        if not isinstance(g, ArchGraph):
            raise PredictorError(f"X[{i}] is a {type(g).__name__}, not an ArchGraph (read models with "
                                 "nabench.graph.from_onnx)")
    return items


def load(directory: str | Path) -> Predictor:
    """A predictor saved with :meth:`Predictor.save`, found by its registry name."""
    from nabench.registry import predictors

    directory = Path(directory)
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise PredictorError(f"{directory}: no {CONFIG_FILE}; not a saved nabench predictor")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        name, params = config["predictor"], config["params"]
    except (ValueError, KeyError, TypeError) as e:
        raise PredictorError(f"{path}: unreadable predictor config ({e})") from e
    cls = predictors.get(name)
    predictor = cls(**{**cls.params_added_later, **params})
    predictor._load_state(directory)
    return predictor
