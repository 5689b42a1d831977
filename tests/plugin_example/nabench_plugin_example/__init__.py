"""A third-party predictor: ridge regression on a few ArchGraph statistics.

Features: log parameters, log FLOPs, depth, node count and the count of each op category
(a fixed vocabulary, so any graph maps to the same columns). State is saved as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from nabench.predictors.base import Predictor, PredictorTags, check_targets
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nabench.graph import CATEGORIES


def features(graph) -> list[float]:
    counts = graph.category_counts()
    return [np.log1p(graph.params), np.log1p(graph.flops), float(graph.depth), float(len(graph.nodes)),
            *(float(counts.get(c, 0)) for c in CATEGORIES)]


class GraphStatsRidge(Predictor):
    registry_name = "example-ridge"

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def nabench_tags(self) -> PredictorTags:
        return PredictorTags(family="baseline")

    def fit(self, X, y):
        y = check_targets(X, y)
        self.model_ = make_pipeline(StandardScaler(), Ridge(alpha=self.alpha)).fit(np.array([features(g) for g in X]), y)
        return self

    def predict(self, X):
        return self.model_.predict(np.array([features(g) for g in X]))

    def _save_state(self, directory: Path) -> None:
        scaler, ridge = self.model_[0], self.model_[1]
        state = {"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist(),
                 "coef": ridge.coef_.tolist(), "intercept": float(ridge.intercept_)}
        (directory / "state.json").write_text(json.dumps(state))

    def _load_state(self, directory: Path) -> None:
        state = json.loads((directory / "state.json").read_text())
        scaler, ridge = StandardScaler(), Ridge(alpha=self.alpha)
        scaler.mean_, scaler.scale_ = np.array(state["mean"]), np.array(state["scale"])
        scaler.n_features_in_ = ridge.n_features_in_ = len(state["mean"])
        ridge.coef_, ridge.intercept_ = np.array(state["coef"]), state["intercept"]
        self.model_ = make_pipeline(scaler, ridge)
