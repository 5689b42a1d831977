"""GNN predictor (GIN / GATv2) on real NAS-Bench-201 cells: ranking quality, seeds, save/load."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kendalltau

LABEL = "cifar10__test_acc__200ep"
N_TRAIN, N_TEST = 80, 120
QUICK = {"hidden": 16, "layers": 2, "epochs": 3}


@pytest.fixture(scope="module")
def nb201(corpus):
    """(train graphs, train y, test graphs, test y, threshold) from random NB201 cells.

    The threshold is computed from the same cells: 0.6 × the Kendall tau of ranking the test cells
    by parameter count (the strongest single-number baseline), and at least 0.3.
    """
    from nabench.graph import from_onnx
    from nabench.normalize import normalize_record

    c = corpus("nb201")
    records = c.records().sample(N_TRAIN + N_TEST, random_state=5)
    graphs = [from_onnx(normalize_record(r, "nb201")["onnx"]) for r in records.to_dict("records")]
    y = c.labels(LABEL).loc[records["native_id"]].to_numpy(dtype=np.float64)
    tau_params = kendalltau([g.params for g in graphs[N_TRAIN:]], y[N_TRAIN:]).statistic
    return graphs[:N_TRAIN], y[:N_TRAIN], graphs[N_TRAIN:], y[N_TRAIN:], max(0.3, 0.6 * tau_params)


def _quality(predictor, nb201) -> float:
    Xtr, ytr, Xte, yte, threshold = nb201
    tau = kendalltau(predictor.fit(Xtr, ytr).predict(Xte), yte).statistic
    assert tau > threshold, f"{predictor}: Kendall {tau:.3f} <= {threshold:.3f}"
    return tau


def test_gin_ranks_held_out_cells(nb201, one_torch_thread):
    from nabench.predictors.gnn import GNNPredictor

    _quality(GNNPredictor(conv="gin", hidden=32, layers=2, steps=150, batch_size=16), nb201)


@pytest.mark.slow
def test_gat_ranks_held_out_cells(nb201, one_torch_thread):
    from nabench.predictors.gnn import GNNPredictor

    _quality(GNNPredictor(conv="gat", hidden=32, layers=2, steps=150, batch_size=16, loss="listmle"), nb201)


@pytest.mark.parametrize("conv", ["gin", "gat"])
def test_seeded_and_save_load(nb201, conv, tmp_path, one_torch_thread):
    from nabench.predictors.base import load
    from nabench.predictors.gnn import GNNPredictor

    Xtr, ytr, Xte, _, _ = nb201
    X, y, Xq = Xtr[:16], ytr[:16], Xte[:8]
    a = GNNPredictor(conv=conv, random_state=1, **QUICK).fit(X, y).predict(Xq)
    b = GNNPredictor(conv=conv, random_state=1, **QUICK).fit(X, y)
    assert np.array_equal(a, b.predict(Xq))
    assert not np.array_equal(a, GNNPredictor(conv=conv, random_state=2, **QUICK).fit(X, y).predict(Xq))
    b.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors", "state.json"]
    assert np.array_equal(load(tmp_path / "m").predict(Xq), a)


def test_config_without_head_options_loads_the_old_architecture(nb201, tmp_path, one_torch_thread):
    """A model saved before ``head_norm``/``head_skip`` existed has no such keys: it loads without them."""
    import json

    from nabench.predictors.base import load
    from nabench.predictors.gnn import GNNPredictor

    Xtr, ytr, Xte, _, _ = nb201
    old = GNNPredictor(head_norm=False, head_skip=False, **QUICK).fit(Xtr[:16], ytr[:16])
    old.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    del config["params"]["head_norm"], config["params"]["head_skip"]
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    loaded = load(tmp_path / "m")
    assert loaded.head_norm is False and loaded.head_skip is False
    assert np.array_equal(loaded.predict(Xte[:8]), old.predict(Xte[:8]))


def test_default_head_stays_a_function_of_the_graph_on_far_outliers(corpus, one_torch_thread):
    """A leaderboard split where the GNN used to predict a constant (analognas-analog, 200 training
    cells, seed 4: chance-level cells sit 6 standard deviations below the mean): with the old head
    every ReLU dies in the first epochs; the default head (norm + linear path) keeps ranking."""
    from nabench.graph import from_onnx
    from nabench.leaderboard.tasks import get_task, load_task_data
    from nabench.normalize import normalize_record
    from nabench.predictors.gnn import GNNPredictor

    c = corpus("analognas")
    data = load_task_data(get_task("analognas-analog"))
    (split,) = data.splits([200], [4])
    train = data.train_pool.iloc[split.train]
    records = c.records().set_index("native_id").loc[train["native_id"]].reset_index()
    graphs = [from_onnx(normalize_record(r, "analognas")["onnx"]) for r in records.to_dict("records")]
    y = train["y"].to_numpy()
    assert (y < y.mean() - 5 * y.std()).any()
    collapsed = GNNPredictor(head_norm=False, head_skip=False, epochs=5, random_state=4).fit(graphs, y).predict(graphs)
    assert np.ptp(collapsed) == 0  # the failure the option fixes
    alive = GNNPredictor(epochs=5, random_state=4).fit(graphs, y).predict(graphs)
    assert kendalltau(alive, y).statistic > 0.2


def test_unknown_ops_and_bad_params(nb201, one_torch_thread):
    from nabench.predictors.base import PredictorError
    from nabench.predictors.gnn import GNNPredictor
    from test_encoders_graph_text import custom_op_graph

    Xtr, ytr, _, _, _ = nb201
    p = GNNPredictor(**QUICK).fit(Xtr[:8], ytr[:8])
    assert np.isfinite(p.predict([custom_op_graph()])).all()
    with pytest.raises(PredictorError, match="conv="):
        GNNPredictor(conv="sage").fit(Xtr[:8], ytr[:8])
    with pytest.raises(PredictorError, match="loss="):
        GNNPredictor(loss="l1").fit(Xtr[:8], ytr[:8])
    with pytest.raises(PredictorError, match="epochs="):
        GNNPredictor(epochs=0).fit(Xtr[:8], ytr[:8])


@pytest.mark.parametrize("loss", ["pairwise_logistic", "pairwise_hinge", "listmle"])
def test_ranking_losses_prefer_the_right_order(loss):
    import torch
    from nabench.predictors.gnn import ranking_loss

    target = torch.tensor([2.0, 1.0, 0.0, -1.0])
    right, wrong = ranking_loss(target * 0.5, target, loss, 0.0), ranking_loss(-target * 0.5, target, loss, 0.0)
    assert float(right) < float(wrong)
