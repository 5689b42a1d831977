"""Tree ensembles on the tabular encoding: XGBoost (``xgb``), LightGBM (``lgbm``), random forest (``rf``).

Each predictor is :class:`~nabench.encoders.tabular.TabularEncoder` + a model. Shared parameters:

- ``features``: the encoder's feature groups; ``max_ngram``, ``min_df``, ``max_ngrams``: its
  n-gram vocabulary; ``extra``: a DataFrame indexed by arch id whose numeric columns are
  appended (zero-cost proxy scores, learning-curve points) — see the encoder.
- ``target``: ``"raw"`` fits the targets as given; ``"rank"`` fits their normalized ranks
  ``(rank - 0.5) / n`` (robust to the long low tail of accuracies; predictions are then ranking
  scores in [0, 1], not accuracies).
- ``random_state``, ``n_jobs`` (default 1: benchmarks run on small shared CPUs).

Ranking objectives: ``xgb`` ``objective="rank:pairwise"`` / ``"rank:ndcg"`` and ``lgbm``
``objective="lambdarank"`` / ``"rank_xendcg"`` treat the training set as one query; ndcg-type
objectives get integer relevance labels (``relevance_levels`` quantile bins of the target).

Query speed: ``predict(graphs)`` is the encoder (cheap for graphs already in
:func:`~nabench.encoders.tabular.feature_cache`) plus ``predict_features(matrix)``, the model alone;
``benchmarks/encoders_speed.py`` measures both. XGBoost is called through its booster's
``inplace_predict`` (no ``DMatrix``, no per-call checks of the scikit-learn wrapper). LightGBM's
row-by-row predictor reaches about 30k rows/s on one idle core and 62k/s on two (500 trees of 31
leaves, 255 NB201 features). Measured and not used: lleaves 1.3 (55k/s, but 44 s to compile a
model; it does not build with llvmlite ≥ 0.45), treelite 4.8 GTIL (14k/s), predicting in chunks of
trees (≤ 39k/s), float32 or CSR input (no faster), ONNX Runtime's tree ensemble on the zoo's
export (:mod:`nabench.zoo.trees`: 62k/s on one core, 116k/s on two, but its float32 output ties
predictions LightGBM keeps apart, and the export costs 0.4 s a model, more than predicting a
leaderboard test set).

Saved state (never pickle): ``encoder.json`` (the fitted vocabulary), the model in its native
format (XGBoost ``model.ubj``, LightGBM ``model.txt``, random forest: every tree's node arrays
in ``forest.safetensors``), and ``extra.parquet`` when ``extra`` is set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from nabench.predictors.base import Predictor, PredictorError, PredictorTags, check_graphs, check_targets

ENCODER_FILE = "encoder.json"
EXTRA_FILE = "extra.parquet"
DEFAULT_FEATURES = ("global", "category", "op", "shape", "path", "ngram")


def _relevance(y: np.ndarray, levels: int) -> np.ndarray:
    """Integer relevance labels 0..levels-1 by quantile of ``y`` (ties share a level)."""
    q = (rankdata(y, method="average") - 0.5) / len(y)
    return np.minimum((q * levels).astype(np.int64), levels - 1)


class TabularPredictor(Predictor):
    """Encoder + model; subclasses build, fit, run, save and load the model."""

    def _init_common(self, features, max_ngram, min_df, max_ngrams, extra, target, random_state, n_jobs):
        self.features = features
        self.max_ngram = max_ngram
        self.min_df = min_df
        self.max_ngrams = max_ngrams
        self.extra = extra
        self.target = target
        self.random_state = random_state
        self.n_jobs = n_jobs

    def nabench_tags(self) -> PredictorTags:
        cols = tuple(str(c) for c in self.extra.columns) if isinstance(self.extra, pd.DataFrame) else ()
        return PredictorTags(family="gbdt", proxy_columns=cols)

    def _encoder(self):
        from nabench.encoders.tabular import TabularEncoder

        return TabularEncoder(groups=tuple(self.features), max_ngram=self.max_ngram, min_df=self.min_df,
                              max_ngrams=self.max_ngrams, extra=self.extra)

    def _encode(self, X: Sequence, fit: bool) -> np.ndarray:
        from nabench.encoders.tabular import EncoderError

        try:
            if fit:
                self.encoder_ = self._encoder()
                return self.encoder_.fit_transform(X)
            return self.encoder_.transform(X)
        except EncoderError as e:
            raise PredictorError(f"{type(self).__name__}: {e}") from e

    def _check_params(self) -> None:
        if self.target not in ("raw", "rank"):
            raise PredictorError(f"target must be 'raw' or 'rank', got {self.target!r}")
        if self.extra is not None and not isinstance(self.extra, pd.DataFrame):
            raise PredictorError(f"extra must be a DataFrame indexed by arch id or None, got {type(self.extra).__name__}")

    def fit(self, X: Sequence, y: Any) -> TabularPredictor:
        self._check_params()
        X = check_graphs(X)
        y = check_targets(X, y)
        if self.target == "rank":
            y = (rankdata(y, method="average") - 0.5) / len(y)
        features = self._encode(X, fit=True)
        self._fit_model(features, y)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "encoder_"):
            raise PredictorError(f"{type(self).__name__} is not fitted: call fit(X, y) first")

    def predict(self, X: Sequence) -> np.ndarray:
        X = check_graphs(X)
        self._check_fitted()
        if not X:
            return np.zeros(0, dtype=np.float64)
        return self.predict_features(self._encode(X, fit=False))

    def predict_features(self, features: np.ndarray) -> np.ndarray:
        """Predictions from already encoded features (``encoder_.transform(graphs)``, one row per
        graph): the model alone, for scoring the same architectures many times. ``predict(graphs)``
        equals ``predict_features(encoder_.transform(graphs))``."""
        self._check_fitted()
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.encoder_.n_features_out_:
            raise PredictorError(f"{type(self).__name__}: features must be an array [n, {self.encoder_.n_features_out_}] "
                                 f"(encoder_.transform output), got shape {features.shape}")
        if not len(features):
            return np.zeros(0, dtype=np.float64)
        return np.asarray(self._predict_model(features), dtype=np.float64).reshape(-1)

    # -- saving ---------------------------------------------------------------------------
    def _config_params(self) -> dict[str, Any]:
        params = self.get_params(deep=False)
        if isinstance(self.extra, pd.DataFrame):
            params["extra"] = EXTRA_FILE
        params["features"] = list(self.features)
        return params

    def _save_state(self, directory: Path) -> None:
        if not hasattr(self, "encoder_"):
            raise PredictorError(f"{type(self).__name__} is not fitted: nothing to save")
        (directory / ENCODER_FILE).write_text(json.dumps(self.encoder_.state(), indent=1) + "\n", encoding="utf-8")
        if isinstance(self.extra, pd.DataFrame):
            self.extra.to_parquet(directory / EXTRA_FILE)
        self._save_model(directory)

    def _load_state(self, directory: Path) -> None:
        if self.extra == EXTRA_FILE:
            self.extra = pd.read_parquet(directory / EXTRA_FILE)
        self.features = tuple(self.features)
        try:
            state = json.loads((directory / ENCODER_FILE).read_text(encoding="utf-8"))
            self.encoder_ = self._encoder().set_state(state)
        except (OSError, ValueError, KeyError) as e:
            raise PredictorError(f"{directory}: unreadable {ENCODER_FILE} ({e})") from e
        self._load_model(directory)

    # -- implemented by each model ----------------------------------------------------------
    def _fit_model(self, X: np.ndarray, y: np.ndarray) -> None:
        raise NotImplementedError

    def _predict_model(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _save_model(self, directory: Path) -> None:
        raise NotImplementedError

    def _load_model(self, directory: Path) -> None:
        raise NotImplementedError


class XGBPredictor(TabularPredictor):
    """XGBoost on the tabular encoding; ``objective`` any XGBoost regression or ``rank:*`` objective.

    ``min_child_weight=None``: 1 for regression, 0.01 for ``rank:*`` objectives (their hessians
    are small: with 1, trees of ``rank:ndcg`` never split).
    """

    registry_name = "xgb"
    MODEL_FILE = "model.ubj"

    def __init__(self, objective: str = "reg:squarederror", n_estimators: int = 500, learning_rate: float = 0.05,
                 max_depth: int = 6, min_child_weight: float | None = None, subsample: float = 0.8,
                 colsample_bytree: float = 0.8, reg_lambda: float = 1.0, reg_alpha: float = 0.0,
                 relevance_levels: int = 32, features: Sequence[str] = DEFAULT_FEATURES, max_ngram: int = 3,
                 min_df: int = 2, max_ngrams: int = 200, extra: pd.DataFrame | None = None, target: str = "raw",
                 random_state: int = 0, n_jobs: int = 1):
        self.objective = objective
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.relevance_levels = relevance_levels
        self._init_common(features, max_ngram, min_df, max_ngrams, extra, target, random_state, n_jobs)

    @classmethod
    def nabench_test_params(cls) -> dict[str, Any]:
        return {"n_estimators": 20}

    def _booster_params(self) -> dict[str, Any]:
        return dict(objective=self.objective, n_estimators=self.n_estimators, learning_rate=self.learning_rate,
                    max_depth=self.max_depth, subsample=self.subsample,
                    min_child_weight=(self.min_child_weight if self.min_child_weight is not None
                                      else 0.01 if self.objective.startswith("rank:") else 1.0),
                    colsample_bytree=self.colsample_bytree, reg_lambda=self.reg_lambda, reg_alpha=self.reg_alpha,
                    random_state=self.random_state, n_jobs=self.n_jobs, tree_method="hist")

    def _fit_model(self, X: np.ndarray, y: np.ndarray) -> None:
        import xgboost as xgb

        try:
            if self.objective.startswith("rank:"):
                labels = _relevance(y, self.relevance_levels) if self.objective != "rank:pairwise" else y
                self.model_ = xgb.XGBRanker(**self._booster_params(), lambdarank_pair_method="mean",
                                            lambdarank_num_pair_per_sample=8)
                self.model_.fit(X, labels, qid=np.zeros(len(y), dtype=np.int64))
            else:
                self.model_ = xgb.XGBRegressor(**self._booster_params()).fit(X, y)
        except xgb.core.XGBoostError as e:
            raise PredictorError(f"xgb: {str(e).splitlines()[0]}") from e

    def _predict_model(self, X: np.ndarray) -> np.ndarray:
        # the booster directly: the scikit-learn wrapper's per-call checks cost ~20% at 15,000 rows
        return self.model_.get_booster().inplace_predict(X, predict_type="margin", validate_features=False)

    def _save_model(self, directory: Path) -> None:
        self.model_.save_model(directory / self.MODEL_FILE)

    def _load_model(self, directory: Path) -> None:
        import xgboost as xgb

        cls = xgb.XGBRanker if self.objective.startswith("rank:") else xgb.XGBRegressor
        self.model_ = cls(n_jobs=self.n_jobs)  # a loaded model keeps the predictor's thread count
        self.model_.load_model(directory / self.MODEL_FILE)


class LGBMPredictor(TabularPredictor):
    """LightGBM on the tabular encoding; ``objective`` any LightGBM regression objective,
    ``lambdarank`` or ``rank_xendcg``."""

    registry_name = "lgbm"
    MODEL_FILE = "model.txt"
    RANK_OBJECTIVES = ("lambdarank", "rank_xendcg")

    def __init__(self, objective: str = "regression", n_estimators: int = 500, learning_rate: float = 0.05,
                 num_leaves: int = 31, min_child_samples: int = 5, subsample: float = 0.8,
                 colsample_bytree: float = 0.8, reg_lambda: float = 1.0, relevance_levels: int = 31,
                 features: Sequence[str] = DEFAULT_FEATURES, max_ngram: int = 3, min_df: int = 2,
                 max_ngrams: int = 200, extra: pd.DataFrame | None = None, target: str = "raw",
                 random_state: int = 0, n_jobs: int = 1):
        self.objective = objective
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.relevance_levels = relevance_levels
        self._init_common(features, max_ngram, min_df, max_ngrams, extra, target, random_state, n_jobs)

    @classmethod
    def nabench_test_params(cls) -> dict[str, Any]:
        return {"n_estimators": 20}

    def _fit_model(self, X: np.ndarray, y: np.ndarray) -> None:
        import lightgbm as lgb

        params = dict(objective=self.objective, n_estimators=self.n_estimators, learning_rate=self.learning_rate,
                      num_leaves=self.num_leaves, min_child_samples=self.min_child_samples, subsample=self.subsample,
                      subsample_freq=1 if self.subsample < 1 else 0, colsample_bytree=self.colsample_bytree,
                      reg_lambda=self.reg_lambda, random_state=self.random_state, n_jobs=self.n_jobs,
                      verbose=-1, deterministic=True, force_row_wise=True)
        try:
            if self.objective in self.RANK_OBJECTIVES:
                model = lgb.LGBMRanker(**params, lambdarank_truncation_level=len(y),
                                       label_gain=list(range(self.relevance_levels)))
                model.fit(X, _relevance(y, self.relevance_levels), group=[len(y)])
            else:
                model = lgb.LGBMRegressor(**params).fit(X, y)
        except lgb.basic.LightGBMError as e:
            raise PredictorError(f"lgbm: {e}") from e
        self.booster_ = model.booster_

    def _predict_model(self, X: np.ndarray) -> np.ndarray:
        return self.booster_.predict(X, num_threads=self.n_jobs)

    def _save_model(self, directory: Path) -> None:
        self.booster_.save_model(str(directory / self.MODEL_FILE))

    def _load_model(self, directory: Path) -> None:
        import lightgbm as lgb

        self.booster_ = lgb.Booster(model_file=str(directory / self.MODEL_FILE))


class RFPredictor(TabularPredictor):
    """Random forest (scikit-learn) on the tabular encoding.

    Saved as the trees' node arrays (``forest.safetensors``: every field of each tree's node
    table concatenated, with per-tree offsets) and rebuilt into scikit-learn trees on load.
    """

    registry_name = "rf"
    MODEL_FILE = "forest.safetensors"

    def __init__(self, n_estimators: int = 500, max_features: float = 0.5, min_samples_leaf: int = 1,
                 max_depth: int | None = None, bootstrap: bool = True, features: Sequence[str] = DEFAULT_FEATURES,
                 max_ngram: int = 3, min_df: int = 2, max_ngrams: int = 200, extra: pd.DataFrame | None = None,
                 target: str = "raw", random_state: int = 0, n_jobs: int = 1):
        self.n_estimators = n_estimators
        self.max_features = max_features
        self.min_samples_leaf = min_samples_leaf
        self.max_depth = max_depth
        self.bootstrap = bootstrap
        self._init_common(features, max_ngram, min_df, max_ngrams, extra, target, random_state, n_jobs)

    @classmethod
    def nabench_test_params(cls) -> dict[str, Any]:
        return {"n_estimators": 10}

    def _fit_model(self, X: np.ndarray, y: np.ndarray) -> None:
        from sklearn.ensemble import RandomForestRegressor

        self.model_ = RandomForestRegressor(n_estimators=self.n_estimators, max_features=self.max_features,
                                            min_samples_leaf=self.min_samples_leaf, max_depth=self.max_depth,
                                            bootstrap=self.bootstrap, random_state=self.random_state,
                                            n_jobs=self.n_jobs).fit(X, y)

    def _predict_model(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X)

    def _save_model(self, directory: Path) -> None:
        from safetensors.numpy import save_file

        states = [t.tree_.__getstate__() for t in self.model_.estimators_]
        fields = states[0]["nodes"].dtype.names
        tensors = {f"nodes.{f}": np.ascontiguousarray(np.concatenate([s["nodes"][f] for s in states])) for f in fields}
        tensors["values"] = np.concatenate([s["values"].reshape(-1) for s in states]).astype(np.float64)
        tensors["node_count"] = np.array([s["node_count"] for s in states], dtype=np.int64)
        tensors["max_depth"] = np.array([s["max_depth"] for s in states], dtype=np.int64)
        meta = {"n_features": str(self.model_.n_features_in_), "fields": ",".join(fields)}
        save_file(tensors, str(directory / self.MODEL_FILE), metadata=meta)

    def _load_model(self, directory: Path) -> None:
        from safetensors import safe_open
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.tree import DecisionTreeRegressor
        from sklearn.tree._tree import NODE_DTYPE, Tree

        try:
            with safe_open(str(directory / self.MODEL_FILE), framework="numpy") as f:
                meta = f.metadata()
                t = {k: f.get_tensor(k) for k in f.keys()}
            n_features, fields = int(meta["n_features"]), meta["fields"].split(",")
        except (OSError, KeyError, ValueError) as e:
            raise PredictorError(f"{directory}: unreadable {self.MODEL_FILE} ({e})") from e
        if tuple(fields) != NODE_DTYPE.names:
            raise PredictorError(f"{directory}: forest saved with node fields {fields}, this scikit-learn "
                                 f"uses {list(NODE_DTYPE.names)}")
        forest = RandomForestRegressor(n_estimators=len(t["node_count"]))
        forest.estimators_, start = [], 0
        for count, depth in zip(t["node_count"].tolist(), t["max_depth"].tolist()):
            nodes = np.zeros(count, dtype=NODE_DTYPE)
            for name in fields:
                nodes[name] = t[f"nodes.{name}"][start:start + count]
            tree = Tree(n_features, np.array([1], dtype=np.intp), 1)
            tree.__setstate__({"max_depth": depth, "node_count": count, "nodes": nodes,
                               "values": t["values"][start:start + count].reshape(count, 1, 1).copy()})
            est = DecisionTreeRegressor()
            est.tree_, est.n_features_in_, est.n_outputs_, est.max_features_ = tree, n_features, 1, n_features
            forest.estimators_.append(est)
            start += count
        forest.n_features_in_, forest.n_outputs_, forest.n_jobs = n_features, 1, self.n_jobs
        self.model_ = forest
