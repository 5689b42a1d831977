"""``pairwise``: an XGBoost classifier of "is A better than B?" on tabular feature differences.

Training: pairs ``(i, j)`` of training architectures with different targets; the features of a
pair are ``x_i - x_j`` (the :class:`~nabench.encoders.tabular.TabularEncoder` encoding, with
``extra`` columns when given) and the label is ``y_i > y_j``. All ordered pairs are used when
there are at most ``max_pairs`` of them, else each architecture is paired with
``max_pairs // n`` random partners (seeded by ``random_state``).

Prediction: the mean probability of beating ``anchors`` reference architectures, the training
architectures at evenly spaced quantiles of the target. Scores lie in [0, 1] and only their
order means something (a ranking predictor, not an accuracy regressor).

Why: trees on differences behave like a smooth, nearly additive ranking model, which
generalizes from few labels better than regression trees on the raw features (NB201 CIFAR-10,
78 training cells: Kendall ~0.79 against ~0.77 for ``xgb``); with many labels plain regression
(``xgb``) is better, and ``ensemble(method="stack")`` over both picks the blend by
cross-validation (see ``benchmarks/results/predictors_nb201.md``).

Saved as ``encoder.json``, ``model.ubj`` (XGBoost's format) and ``anchors.safetensors``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from nabench.predictors.base import PredictorError
from nabench.predictors.gbdt import DEFAULT_FEATURES, TabularPredictor

ANCHORS_FILE = "anchors.safetensors"


def training_pairs(y: np.ndarray, max_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays ``(i, j)`` of ordered pairs with ``y[i] != y[j]`` (see the module docstring)."""
    n = len(y)
    if n * (n - 1) <= max_pairs:
        i, j = np.nonzero(~np.eye(n, dtype=bool))
    else:
        per = max(1, max_pairs // n)
        i = np.repeat(np.arange(n), per)
        j = np.random.default_rng(seed).integers(0, n, size=len(i))
    keep = y[i] != y[j]
    return i[keep], j[keep]


class PairwisePredictor(TabularPredictor):
    """Pairwise XGBoost classifier on feature differences, scored against quantile anchors."""

    registry_name = "pairwise"
    MODEL_FILE = "model.ubj"

    def __init__(self, n_estimators: int = 300, learning_rate: float = 0.05, max_depth: int = 6,
                 subsample: float = 0.8, colsample_bytree: float = 0.5, max_pairs: int = 20000,
                 anchors: int = 32, features: Sequence[str] = DEFAULT_FEATURES, max_ngram: int = 3,
                 min_df: int = 2, max_ngrams: int = 200, extra: pd.DataFrame | None = None, target: str = "raw",
                 random_state: int = 0, n_jobs: int = 1):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.max_pairs = max_pairs
        self.anchors = anchors
        self._init_common(features, max_ngram, min_df, max_ngrams, extra, target, random_state, n_jobs)

    @classmethod
    def nabench_test_params(cls) -> dict[str, Any]:
        return {"n_estimators": 20, "anchors": 8}

    def _fit_model(self, X: np.ndarray, y: np.ndarray) -> None:
        import xgboost as xgb

        for name in ("max_pairs", "anchors"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PredictorError(f"{name}={value!r}; expected a positive int")
        i, j = training_pairs(y, self.max_pairs, self.random_state)
        if len(i) == 0:
            raise PredictorError("pairwise: every training target is equal; no pair to learn from")
        self.model_ = xgb.XGBClassifier(
            n_estimators=self.n_estimators, learning_rate=self.learning_rate, max_depth=self.max_depth,
            subsample=self.subsample, colsample_bytree=self.colsample_bytree, random_state=self.random_state,
            n_jobs=self.n_jobs, tree_method="hist")
        try:
            self.model_.fit(X[i] - X[j], (y[i] > y[j]).astype(np.int64))
        except xgb.core.XGBoostError as e:
            raise PredictorError(f"pairwise: {str(e).splitlines()[0]}") from e
        order = np.argsort(y, kind="stable")
        picks = order[np.linspace(0, len(y) - 1, min(self.anchors, len(y))).round().astype(int)]
        self.anchors_ = np.ascontiguousarray(X[picks], dtype=np.float64)

    def _predict_model(self, X: np.ndarray) -> np.ndarray:
        score = np.zeros(len(X), dtype=np.float64)
        for anchor in self.anchors_:
            score += self.model_.predict_proba(X - anchor)[:, 1]
        return score / len(self.anchors_)

    def _save_model(self, directory: Path) -> None:
        from safetensors.numpy import save_file

        self.model_.save_model(directory / self.MODEL_FILE)
        save_file({"anchors": self.anchors_}, str(directory / ANCHORS_FILE))

    def _load_model(self, directory: Path) -> None:
        import xgboost as xgb
        from safetensors.numpy import load_file

        try:
            self.anchors_ = load_file(str(directory / ANCHORS_FILE))["anchors"]
            self.model_ = xgb.XGBClassifier()
            self.model_.load_model(directory / self.MODEL_FILE)
        except (OSError, KeyError, xgb.core.XGBoostError) as e:
            raise PredictorError(f"{directory}: unreadable pairwise model ({e})") from e
