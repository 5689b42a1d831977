"""ONNX export of zoo estimators: onnxruntime alone (plus the encoders) gives the native predictions."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from test_archgraph import exported
from test_zoo_build import built, normalized

from nabench import zoo
from nabench.graph import from_onnx
from nabench.zoo.onnx_export import ENCODERS_KEY, OnnxEstimator, export

RTOL = 1e-5  # the exports compute in float32


@pytest.fixture(scope="module")
def nlp_graphs(corpus):
    c = normalized(corpus)
    return c.arch_graphs(list(c.graphs()["native_id"][:60]))


@pytest.fixture(scope="module")
def user_graphs():
    return [from_onnx(exported(name)[1]) for name in ("resnet", "mobilenet", "transformer")]


@pytest.mark.parametrize("key, predictor, params", [
    ("xgb", "xgb", None),
    ("lgbm", "lgbm", {"n_estimators": 40}),
    ("rf", "rf", {"n_estimators": 30}),
    ("xgb-rank", "xgb", {"n_estimators": 40, "objective": "rank:pairwise"}),
    ("gnn", "gnn", {"hidden": 16, "layers": 2, "steps": 40}),
])
def test_export_matches_native_predictions(tmp_path_factory, tmp_path, nlp_graphs, user_graphs, key, predictor, params):
    kwargs = {} if key == "xgb" else {"name": f"{predictor}.nlp-{key}", "predictor": predictor, "params": params}
    model = zoo.load_dir(built(tmp_path_factory, key, **kwargs))
    path = export(model, tmp_path / "model.onnx")
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert ENCODERS_KEY in {p.key for p in proto.metadata_props}
    runner = OnnxEstimator(path)
    for graphs in (nlp_graphs, user_graphs):
        native = np.stack([m.predict(graphs) for m in model.members], axis=1)
        ours = runner.predict_members(graphs)
        np.testing.assert_allclose(ours, native, rtol=RTOL, atol=1e-6 * np.abs(native).max())
        np.testing.assert_allclose(runner.predict(graphs), model.predict(graphs), rtol=RTOL)
    assert np.ptp(runner.predict(nlp_graphs)) > 0  # not a constant model


def test_tree_export_is_one_tree_ensemble_on_features(tmp_path_factory, tmp_path, nlp_graphs):
    model = zoo.load_dir(built(tmp_path_factory))
    proto = onnx.load(export(model, tmp_path / "m.onnx"))
    assert [n.op_type for n in proto.graph.node] == ["TreeEnsembleRegressor", "ReduceMean"]
    widths = sum(m.encoder_.n_features_out_ for m in model.members)
    assert proto.graph.input[0].type.tensor_type.shape.dim[1].dim_value == widths
    import onnxruntime as ort

    feats = np.concatenate([m.encoder_.transform(nlp_graphs) for m in model.members], axis=1).astype(np.float32)
    (pred,) = ort.InferenceSession(proto.SerializeToString()).run(["prediction"], {"features": feats})
    np.testing.assert_allclose(pred, model.predict(nlp_graphs), rtol=RTOL)


def test_not_an_export_is_refused(tmp_path):
    path = tmp_path / "plain.onnx"
    path.write_bytes(exported("resnet")[1])
    with pytest.raises(zoo.ZooError, match="not an ONNX file exported from the nabench zoo"):
        OnnxEstimator(path)
