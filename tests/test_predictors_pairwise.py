"""The pairwise ranker and the ensemble's ``extra`` / stacking on real NAS-Bench-201 cells."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from nabench.predictors.base import PredictorError, load

LABEL = "cifar10__test_acc__200ep"
N_TRAIN, N_TEST = 80, 400


@pytest.fixture(scope="module")
def cells(nb201_sample):
    """Random NB201 cells (graphs from their normalized ONNX, with arch ids), accuracies, records."""
    return nb201_sample(N_TRAIN + N_TEST, 3, LABEL)


def test_training_pairs_all_or_sampled():
    from nabench.predictors.pairwise import training_pairs

    y = np.array([1.0, 2.0, 2.0, 3.0])
    i, j = training_pairs(y, max_pairs=100, seed=0)
    assert len(i) == 10 and np.all(y[i] != y[j])  # 12 ordered pairs minus the tied (1, 2), (2, 1)
    i, j = training_pairs(np.arange(100.0), max_pairs=500, seed=0)
    assert 450 <= len(i) <= 500 and np.all(i != j)
    np.testing.assert_array_equal(training_pairs(np.arange(100.0), 500, seed=0)[1], j)  # seeded


def test_pairwise_ranks_unseen_cells_and_round_trips(cells, tmp_path):
    """80 training cells: Kendall on 400 unseen cells well above chance (std of tau ~0.035 here)
    and at least as good as the same-budget XGBoost regressor minus noise."""
    from nabench.predictors.gbdt import XGBPredictor
    from nabench.predictors.pairwise import PairwisePredictor

    graphs, y, _ = cells
    tr, te = slice(0, N_TRAIN), slice(N_TRAIN, None)
    model = PairwisePredictor(n_estimators=150).fit(graphs[tr], y[tr])
    pred = model.predict(graphs[te])
    assert pred.min() >= 0.0 and pred.max() <= 1.0
    tau = kendalltau(y[te], pred).statistic
    tau_xgb = kendalltau(y[te], XGBPredictor(n_estimators=150).fit(graphs[tr], y[tr]).predict(graphs[te])).statistic
    assert tau > 0.6 and tau > tau_xgb - 0.05, (tau, tau_xgb)
    again = load(model.save(tmp_path / "pw"))
    np.testing.assert_array_equal(again.predict(graphs[te]), pred)
    assert (tmp_path / "pw" / "anchors.safetensors").is_file()


def test_pairwise_bad_input(cells):
    from nabench.predictors.pairwise import PairwisePredictor

    graphs, _, _ = cells
    with pytest.raises(PredictorError, match="every training target is equal"):
        PairwisePredictor(n_estimators=5).fit(graphs[:5], np.ones(5))
    with pytest.raises(PredictorError, match="anchors=0"):
        PairwisePredictor(n_estimators=5, anchors=0).fit(graphs[:5], np.arange(5.0))


@pytest.mark.parametrize("method", ["stack", "rank_stack"])
def test_ensemble_passes_extra_and_drops_zero_weight_members(method, cells, tmp_path):
    """``extra`` reaches the members that take it (proxy columns in their encoders and tags); a
    stacked member whose weight is 0 is not refit; the
    saved ensemble predicts the same."""
    from nabench.predictors.ensemble import EnsemblePredictor

    graphs, y, records = cells
    arch = [g.metadata["arch_id"] for g in graphs]
    extra = pd.DataFrame({"nwot": records["cifar10__zc_nwot"].to_numpy()}, index=pd.Index(arch, name="arch_id"))
    extra = extra[~extra.index.duplicated()]
    model = EnsemblePredictor(members=[["xgb", {"n_estimators": 60}], ["pairwise", {"n_estimators": 60}],
                                       ["flops", {"higher_is_better": False}]], method=method, cv=3, extra=extra)
    model.fit(graphs[:N_TRAIN], y[:N_TRAIN])
    assert model.nabench_tags().proxy_columns == ("nwot",)
    assert "extra__nwot" in model.members_[0].encoder_.get_feature_names_out()
    assert all((m is None) == (c == 0.0) for m, c in zip(model.members_, model.stack_coef_))
    if method == "rank_stack":
        assert model.stack_coef_[2] == 0.0  # ranks by -FLOPs: anti-correlated with accuracy
    pred = model.predict(graphs[N_TRAIN:])
    assert kendalltau(y[N_TRAIN:], pred).statistic > 0.6
    again = load(model.save(tmp_path / "ens"))
    pd.testing.assert_frame_equal(again.extra, extra)
    np.testing.assert_array_equal(again.predict(graphs[N_TRAIN:]), pred)
    with pytest.raises(PredictorError, match="extra must be a DataFrame"):
        EnsemblePredictor(extra=[1, 2]).fit(graphs[:10], y[:10])
