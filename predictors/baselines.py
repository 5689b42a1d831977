"""Baselines: the training mean, and ranking by one number of the graph (params, FLOPs).

``params`` and ``flops`` need no training (``requires_fit=False``): they predict
``log1p(graph.params)`` / ``log1p(graph.flops)`` (a monotone transform, so rank correlations are
those of the raw counts), negated with ``higher_is_better=False``. ``mean`` predicts the mean of
the training targets for every architecture (its rank correlation is undefined; it is the floor
for error metrics).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from nabench.predictors.base import Predictor, PredictorError, PredictorTags, check_graphs, check_targets

STATE_FILE = "state.json"


class MeanPredictor(Predictor):
    """Predicts the mean training target for every architecture."""

    registry_name = "mean"

    def nabench_tags(self) -> PredictorTags:
        return PredictorTags(family="baseline")

    def fit(self, X: Sequence, y) -> "MeanPredictor":
        X = check_graphs(X)
        self.mean_ = float(np.mean(check_targets(X, y)))
        return self

    def predict(self, X: Sequence) -> np.ndarray:
        X = check_graphs(X)
        if not hasattr(self, "mean_"):
            raise PredictorError("MeanPredictor is not fitted: call fit(X, y) first")
        return np.full(len(X), self.mean_, dtype=np.float64)

    def _save_state(self, directory: Path) -> None:
        (directory / STATE_FILE).write_text(json.dumps({"mean": self.mean_}) + "\n", encoding="utf-8")

    def _load_state(self, directory: Path) -> None:
        try:
            self.mean_ = float(json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))["mean"])
        except (OSError, ValueError, KeyError) as e:
            raise PredictorError(f"{directory}: unreadable {STATE_FILE} ({e})") from e


class _CountPredictor(Predictor):
    """Ranks architectures by one count of the graph; no training."""

    attribute = ""

    def __init__(self, higher_is_better: bool = True):
        self.higher_is_better = higher_is_better

    def nabench_tags(self) -> PredictorTags:
        return PredictorTags(family="baseline", requires_fit=False)

    def fit(self, X: Sequence, y=None) -> "_CountPredictor":
        """No training; ``y``, when given, is still checked."""
        X = check_graphs(X)
        if y is not None:
            check_targets(X, y)
        return self

    def predict(self, X: Sequence) -> np.ndarray:
        sign = 1.0 if self.higher_is_better else -1.0
        return np.array([sign * math.log1p(getattr(g, self.attribute)) for g in check_graphs(X)],
                        dtype=np.float64)

    def _save_state(self, directory: Path) -> None:
        """Nothing beyond the parameters in ``config.json``."""

    def _load_state(self, directory: Path) -> None:
        """Nothing beyond the parameters in ``config.json``."""


class ParamsPredictor(_CountPredictor):
    """Ranks by trainable parameter count (``graph.params``)."""

    registry_name = "params"
    attribute = "params"


class FlopsPredictor(_CountPredictor):
    """Ranks by FLOPs (multiply-accumulates, ``graph.flops``)."""

    registry_name = "flops"
    attribute = "flops"
