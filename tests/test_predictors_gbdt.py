"""GBDT, random forest, baselines and the ensemble on real NAS-Bench-201 cells."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from nabench.predictors.base import PredictorError, load

LABEL = "cifar10__test_acc__200ep"
N_TRAIN, N_TEST = 100, 60


@pytest.fixture(scope="module")
def split(nb201_sample):
    """Random NB201 cells (graphs from their normalized ONNX, with arch ids) and test accuracies."""
    graphs, y, _ = nb201_sample(N_TRAIN + N_TEST, 1, LABEL)
    return graphs[:N_TRAIN], y[:N_TRAIN], graphs[N_TRAIN:], y[N_TRAIN:]


def tau(model, split) -> float:
    Xtr, ytr, Xte, yte = split
    return kendalltau(yte, model.fit(Xtr, ytr).predict(Xte)).statistic


@pytest.mark.parametrize("name, params", [
    ("xgb", {}), ("xgb", {"objective": "rank:pairwise"}), ("xgb", {"objective": "rank:ndcg", "target": "rank"}),
    ("lgbm", {}), ("lgbm", {"objective": "lambdarank"}), ("lgbm", {"objective": "rank_xendcg"}),
    ("rf", {}), ("rf", {"target": "rank"}),
])
def test_tree_models_rank_unseen_cells(name, params, split):
    """With 100 training cells every variant ranks 60 unseen cells far better than chance
    (Kendall's tau of independent rankings of 60 items has std ~0.09)."""
    from nabench.registry import predictors

    assert tau(predictors.get(name)(n_estimators=100, **params), split) > 0.45


def test_rf_reload_rebuilds_the_same_trees(split, tmp_path):
    from nabench.predictors.gbdt import RFPredictor

    Xtr, ytr, Xte, _ = split
    model = RFPredictor(n_estimators=30, max_depth=8).fit(Xtr, ytr)
    again = load(model.save(tmp_path / "rf"))
    features = model.encoder_.transform(Xte)
    np.testing.assert_array_equal(again.model_.predict(features), model.model_.predict(features))
    for a, b in zip(model.model_.estimators_, again.model_.estimators_):
        np.testing.assert_array_equal(a.tree_.threshold, b.tree_.threshold)
    assert (tmp_path / "rf" / "forest.safetensors").is_file()


def test_native_model_files(split, tmp_path):
    from nabench.predictors.gbdt import LGBMPredictor, XGBPredictor

    Xtr, ytr, _, _ = split
    XGBPredictor(n_estimators=5).fit(Xtr, ytr).save(tmp_path / "x")
    LGBMPredictor(n_estimators=5).fit(Xtr, ytr).save(tmp_path / "l")
    assert (tmp_path / "x" / "model.ubj").stat().st_size > 0
    assert (tmp_path / "l" / "model.txt").read_text().startswith("tree")


def test_extra_columns_are_used_and_saved(split, tmp_path):
    """A proxy column joined by arch id reaches the model and survives save/load."""
    from nabench.predictors.gbdt import XGBPredictor

    Xtr, ytr, Xte, yte = split
    ids = [g.metadata["arch_id"] for g in Xtr + Xte]
    oracle = pd.DataFrame({"oracle": np.concatenate([ytr, yte])}, index=ids)
    model = XGBPredictor(n_estimators=100, features=("global",), extra=oracle).fit(Xtr, ytr)
    assert model.nabench_tags().proxy_columns == ("oracle",)
    assert kendalltau(yte, model.predict(Xte)).statistic > 0.8
    again = load(model.save(tmp_path / "m"))
    np.testing.assert_array_equal(again.predict(Xte), model.predict(Xte))
    pd.testing.assert_frame_equal(again.extra, oracle)


def test_bad_parameters(split):
    from nabench.predictors.ensemble import EnsemblePredictor
    from nabench.predictors.gbdt import LGBMPredictor, XGBPredictor

    Xtr, ytr, _, _ = split
    with pytest.raises(PredictorError, match="target"):
        XGBPredictor(target="log").fit(Xtr, ytr)
    with pytest.raises(PredictorError, match="feature group"):
        LGBMPredictor(features=("global", "colour")).fit(Xtr, ytr)
    with pytest.raises(PredictorError, match="method"):
        EnsemblePredictor(method="vote").fit(Xtr, ytr)
    with pytest.raises(PredictorError, match="no predictors entry named 'nope'"):
        EnsemblePredictor(members=[["nope", {}]]).fit(Xtr, ytr)


@pytest.mark.parametrize("method", ["mean", "zscore", "rank", "stack"])
def test_ensemble_methods(method, split, tmp_path):
    from nabench.predictors.ensemble import EnsemblePredictor

    members = [["xgb", {"n_estimators": 60}], ["rf", {"n_estimators": 30}], ["params", {}]]
    model = EnsemblePredictor(members=members, method=method, cv=3)
    assert tau(model, split) > 0.45
    Xte = split[2]
    one = model.predict(Xte[:1])
    np.testing.assert_array_equal(one, model.predict(Xte)[:1])  # a prediction does not depend on the batch
    np.testing.assert_array_equal(load(model.save(tmp_path / "e")).predict(Xte), model.predict(Xte))
    if method == "stack":
        assert all(c >= 0 for c in model.stack_coef_)


@pytest.mark.parametrize("name", ["xgb", "lgbm", "rf"])
def test_predict_features_is_the_model_alone(name, split):
    """``predict_features`` on the encoder's matrix gives exactly ``predict(graphs)``; a matrix of
    the wrong width is a clear error; zero rows give zero predictions."""
    from nabench.registry import predictors

    Xtr, ytr, Xte, _ = split
    model = predictors.get(name)(n_estimators=20).fit(Xtr, ytr)
    features = model.encoder_.transform(Xte)
    np.testing.assert_array_equal(model.predict_features(features), model.predict(Xte))
    assert model.predict_features(features[:0]).shape == (0,)
    with pytest.raises(PredictorError, match="features must be an array"):
        model.predict_features(features[:, :-1])
    with pytest.raises(PredictorError, match="not fitted"):
        predictors.get(name)().predict_features(features)
