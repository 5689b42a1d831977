"""``ensemble``: averaging or stacking over any registered predictors.

``members`` is a list of ``[name, params]`` pairs (registry names and constructor arguments, so
the ensemble stays a plain, JSON-serializable parameter holder). ``method``:

- ``"mean"``: the mean of the members' raw predictions;
- ``"zscore"``: each member standardized by the mean and std of its predictions on the training
  architectures, then averaged (members on different scales weigh the same);
- ``"rank"``: rank averaging — each member's prediction mapped through the empirical CDF of its
  predictions on the training architectures (linearly continued one range beyond the extremes, so
  new architectures keep their order), then averaged. Unlike ranking within the predicted batch,
  a prediction does not depend on what else is predicted with it;
- ``"stack"``: a non-negative linear model (scikit-learn ``LinearRegression(positive=True)``) fit
  on ``cv``-fold out-of-fold member predictions, each z-scored by its out-of-fold mean and std
  (kept for prediction); members are then refit on all data, except those whose weight is 0
  (they are dropped). If every weight is 0 the z-scores are averaged;
- ``"rank_stack"``: stacking for rankings — the same, but the linear model maps the out-of-fold
  predictions' percentile ranks to the targets' percentile ranks, and a prediction is the weighted
  sum of the members' ``rank`` scores. Unlike ``stack`` it is not dominated by a long tail of
  poor targets (NB201's broken cells), and it is what to use when only the order matters.

The defaults (``DEFAULT_MEMBERS``, ``rank_stack``, ``cv=3``) are the best architecture-only recipe
measured on NB201 (``benchmarks/results/predictors_nb201.md``). ``weights`` (same length as
``members``) weighs ``mean``/``zscore``/``rank``. ``extra`` (a DataFrame indexed by arch id,
e.g. zero-cost proxy scores) is passed to every member whose constructor takes ``extra`` and
does not set it. Saved as one sub-folder per fitted member (each saved its own way) plus
``ensemble.json`` (and ``extra.parquet`` when ``extra`` is set).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone

from nabench.predictors.base import Predictor, PredictorError, PredictorTags, check_graphs, check_targets, load

STATE_FILE = "ensemble.json"
EXTRA_FILE = "extra.parquet"
METHODS = ("mean", "zscore", "rank", "stack", "rank_stack")
#: the default members: the best architecture-only recipe of the NB201 tables (``rank_stack`` of
#: these, ``cv=3``). On the nb201-cifar10 leaderboard task, Kendall 0.797 at N = 78 to 0.897 at
#: 1563, against 0.723 to 0.896 for the earlier default, a rank average of xgb, lgbm and rf
DEFAULT_MEMBERS = (("pairwise", {}), ("xgb", {"colsample_bytree": 0.5}))


class EnsemblePredictor(Predictor):
    """Averages (or stacks) the predictions of several registered predictors."""

    registry_name = "ensemble"

    def __init__(self, members: Sequence = DEFAULT_MEMBERS, method: str = "rank_stack",
                 weights: Sequence[float] | None = None, cv: int = 3, random_state: int = 0,
                 extra: pd.DataFrame | None = None):
        self.members = members
        self.method = method
        self.weights = weights
        self.cv = cv
        self.random_state = random_state
        self.extra = extra

    @classmethod
    def nabench_test_params(cls) -> dict[str, Any]:
        return {"members": [["xgb", {"n_estimators": 10}], ["rf", {"n_estimators": 5}], ["params", {}]],
                "method": "rank"}

    def _member_list(self) -> list[tuple[str, dict]]:
        if self.method not in METHODS:
            raise PredictorError(f"method must be one of {list(METHODS)}, got {self.method!r}")
        try:
            members = [(str(name), dict(params)) for name, params in self.members]
        except (TypeError, ValueError):
            raise PredictorError("members must be a list of [registry name, params dict] pairs") from None
        if not members:
            raise PredictorError("members is empty")
        if any(name == self.registry_name for name, _ in members):
            raise PredictorError("an ensemble cannot contain an ensemble")
        if self.weights is not None and len(self.weights) != len(members):
            raise PredictorError(f"{len(self.weights)} weights for {len(members)} members")
        if self.extra is not None and not isinstance(self.extra, pd.DataFrame):
            raise PredictorError(f"extra must be a DataFrame indexed by arch id or None, got {type(self.extra).__name__}")
        return members

    def _new_members(self) -> list[Predictor]:
        from nabench.errors import UnknownNameError
        from nabench.registry import predictors

        out = []
        for name, params in self._member_list():
            try:
                cls = predictors.get(name)
            except UnknownNameError as e:
                raise PredictorError(f"ensemble member: {e}") from e
            known = cls().get_params()
            if "random_state" in known and "random_state" not in params:
                params = {**params, "random_state": self.random_state}
            if self.extra is not None and "extra" in known and "extra" not in params:
                params = {**params, "extra": self.extra}
            out.append(cls(**params))
        return out

    def nabench_tags(self) -> PredictorTags:
        tags = [m.nabench_tags() for m in self._new_members()]
        cols = tuple(sorted({c for t in tags for c in t.proxy_columns}))
        pretrained_on = tuple(dict.fromkeys(c for t in tags for c in t.pretrained_on))
        return PredictorTags(family="ensemble", requires_fit=any(t.requires_fit for t in tags),
                             needs_gpu=any(t.needs_gpu for t in tags), proxy_columns=cols,
                             pretrained_on=pretrained_on)

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X: Sequence, y: Any) -> "EnsemblePredictor":
        X = check_graphs(X)
        y = check_targets(X, y)
        members = self._new_members()
        self.stack_coef_, self.stack_intercept_, self.stack_mean_, self.stack_std_ = None, None, None, None
        if self.method in ("stack", "rank_stack"):
            self._fit_stack(members, X, y)
        self.members_ = [m.fit(X, y) if self._active(j) else None for j, m in enumerate(members)]
        train = np.column_stack([m.predict(X) if m is not None else np.zeros(len(X)) for m in self.members_])
        self.train_sorted_ = [np.sort(col) for col in train.T]
        self.train_mean_ = train.mean(axis=0)
        self.train_std_ = np.where(train.std(axis=0) > 0, train.std(axis=0), 1.0)
        return self

    def _fit_stack(self, members: list[Predictor], X: list, y: np.ndarray) -> None:
        from scipy.stats import rankdata
        from sklearn.linear_model import LinearRegression
        from sklearn.model_selection import KFold

        folds = min(self.cv, len(y))
        if folds < 2:
            raise PredictorError("stacking needs at least 2 training architectures")
        oof = np.zeros((len(y), len(members)))
        for train_idx, test_idx in KFold(folds, shuffle=True, random_state=self.random_state).split(y):
            for j, m in enumerate(members):
                fitted = clone(m).fit([X[i] for i in train_idx], y[train_idx])
                oof[test_idx, j] = fitted.predict([X[i] for i in test_idx])
        std = np.where(oof.std(axis=0) > 0, oof.std(axis=0), 1.0)
        z = (oof - oof.mean(axis=0)) / std
        if self.method == "rank_stack":
            z = np.column_stack([rankdata(col) / len(col) for col in oof.T])
            y = rankdata(y) / len(y)
        meta = LinearRegression(positive=True).fit(z, y)
        coef = meta.coef_ if np.any(meta.coef_ > 0) else np.ones(len(members))
        self.stack_coef_, self.stack_intercept_ = [float(c) for c in coef], float(np.mean(y - z @ coef))
        self.stack_mean_, self.stack_std_ = oof.mean(axis=0).tolist(), std.tolist()

    def _active(self, j: int) -> bool:
        """Whether member ``j`` contributes (a stacked member with weight 0 is never refit)."""
        return self.stack_coef_ is None or self.stack_coef_[j] > 0

    # -- predicting -----------------------------------------------------------------------------
    def _ecdf(self, j: int, values: np.ndarray) -> np.ndarray:
        s = self.train_sorted_[j]
        span = max(s[-1] - s[0], 1e-12)
        xs = np.concatenate([[s[0] - span], s, [s[-1] + span]])
        qs = np.concatenate([[0.0], (np.arange(len(s)) + 0.5) / len(s), [1.0]])
        return np.interp(values, xs, qs)

    def predict(self, X: Sequence) -> np.ndarray:
        X = check_graphs(X)
        if not hasattr(self, "members_"):
            raise PredictorError("EnsemblePredictor is not fitted: call fit(X, y) first")
        if not X:
            return np.zeros(0, dtype=np.float64)
        preds = np.column_stack([m.predict(X) if m is not None else np.zeros(len(X)) for m in self.members_])
        if self.method == "stack":
            z = (preds - np.asarray(self.stack_mean_)) / np.asarray(self.stack_std_)
            return (z @ np.asarray(self.stack_coef_) + self.stack_intercept_).astype(np.float64)
        if self.method == "zscore":
            preds = (preds - self.train_mean_) / self.train_std_
        elif self.method in ("rank", "rank_stack"):
            preds = np.column_stack([self._ecdf(j, preds[:, j]) for j in range(preds.shape[1])])
        if self.method == "rank_stack":
            return (preds @ np.asarray(self.stack_coef_) + self.stack_intercept_).astype(np.float64)
        w = np.ones(preds.shape[1]) if self.weights is None else np.asarray(self.weights, dtype=np.float64)
        return (preds @ w / w.sum()).astype(np.float64)

    # -- saving ---------------------------------------------------------------------------------
    def _config_params(self) -> dict[str, Any]:
        params = self.get_params(deep=False)
        params["members"] = [[name, params] for name, params in self._member_list()]
        params["weights"] = None if self.weights is None else [float(w) for w in self.weights]
        if isinstance(self.extra, pd.DataFrame):
            params["extra"] = EXTRA_FILE
        return params

    def _save_state(self, directory: Path) -> None:
        if not hasattr(self, "members_"):
            raise PredictorError("EnsemblePredictor is not fitted: nothing to save")
        from nabench.corpora.store import write_atomic_text

        for j, m in enumerate(self.members_):
            if m is not None:
                m.save(directory / f"member_{j}")
        if isinstance(self.extra, pd.DataFrame):
            self.extra.to_parquet(directory / EXTRA_FILE)
        state = {"train_sorted": [s.tolist() for s in self.train_sorted_], "train_mean": self.train_mean_.tolist(),
                 "train_std": self.train_std_.tolist(), "stack_coef": self.stack_coef_,
                 "stack_intercept": self.stack_intercept_, "stack_mean": self.stack_mean_,
                 "stack_std": self.stack_std_}
        write_atomic_text(directory / STATE_FILE, json.dumps(state) + "\n")

    def _load_state(self, directory: Path) -> None:
        try:
            state = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise PredictorError(f"{directory}: unreadable {STATE_FILE} ({e})") from e
        if isinstance(self.extra, str) and self.extra == EXTRA_FILE:
            self.extra = pd.read_parquet(directory / EXTRA_FILE)
        self.stack_coef_, self.stack_intercept_ = state["stack_coef"], state["stack_intercept"]
        # ensembles saved before the out-of-fold statistics were kept z-scored by the training predictions
        self.stack_mean_ = state.get("stack_mean", state["train_mean"])
        self.stack_std_ = state.get("stack_std", state["train_std"])
        self.members_ = [load(directory / f"member_{j}") if self._active(j) else None
                         for j in range(len(self._member_list()))]
        self.train_sorted_ = [np.asarray(s, dtype=np.float64) for s in state["train_sorted"]]
        self.train_mean_ = np.asarray(state["train_mean"], dtype=np.float64)
        self.train_std_ = np.asarray(state["train_std"], dtype=np.float64)
