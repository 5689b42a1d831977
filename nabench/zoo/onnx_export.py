"""Export a zoo estimator to ONNX and run the export with onnxruntime.

What is exported is the *model on features*; turning an architecture into features stays in
Python (the nabench encoders), and the fitted encoder state of every member travels inside the
file (``metadata_props``), so an exported file plus ``nabench.encoders`` is all that is needed:

Tree ensembles (``xgb``, ``lgbm``, ``rf`` members)
    Input ``features`` ``[N, sum F_k]``: the members' TabularEncoder outputs side by side (float32
    for XGBoost and random forests, float64 for LightGBM: each library's own split precision).
    One ``ai.onnx.ml`` ``TreeEnsembleRegressor`` (our converter, :mod:`nabench.zoo.trees`) gives
    ``members`` ``[N, K]`` (member ``k`` reads its own feature slice); ``prediction`` ``[N]`` is
    their mean. Any batch size.
GNN (``gnn`` members)
    One architecture per run: inputs ``x_<k>`` float32 ``[nodes, F_k]`` (member ``k``'s
    GraphEncoder node features), ``edge_index`` int64 ``[2, edges]`` and ``u`` float32 ``[1, 4]``
    (shared); the message passing (scatter-add), mean/max readout and head are traced with
    ``torch.onnx.export`` with dynamic node and edge counts; the targets' de-standardization is in
    the graph. Outputs ``members`` ``[K]`` and ``prediction`` (scalar). Batching several graphs in
    one run is not exported (the readout would need a dynamic segment count).

Precision: the ONNX graphs compute in float32; predictions agree with the native ones to a
relative 1e-5 (tests), absolute differences are float32 rounding of the target's scale.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from nabench.zoo.catalog import ZooError

KIND_KEY, ENCODERS_KEY, ENTRY_KEY = "nabench.zoo.kind", "nabench.zoo.encoders", "nabench.zoo.entry"
TREE_MEMBERS = ("xgb", "lgbm", "rf")


def _forest(member):
    from nabench.zoo import trees

    name = member.registry_name
    if name == "xgb":
        return trees.from_xgboost(member.model_.get_booster())
    if name == "lgbm":
        return trees.from_lightgbm(member.booster_)
    return trees.from_sklearn_forest(member.model_)


def _tabular_state(member) -> dict:
    enc = member.encoder_
    if enc.extra is not None:
        raise ZooError(f"{member.registry_name}: a model with `extra` columns (looked up by arch id) cannot be exported")
    params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in enc.get_params().items() if k != "extra"}
    return {"params": params, "state": enc.state()}


def _export_trees(members: Sequence) -> tuple:
    from onnx import TensorProto, helper

    forests = [_forest(m) for m in members]
    states = [_tabular_state(m) for m in members]
    widths = [len(s["state"]["fixed_names"]) + len(s["state"]["tokens"]) + len(s["state"]["ngrams"]) for s in states]
    for f, w, m in zip(forests, widths, members):
        if f.n_features > w:
            raise ZooError(f"{m.registry_name}: model reads {f.n_features} features, encoder gives {w}")
    offsets = [int(v) for v in np.cumsum([0] + widths[:-1])]
    from nabench.zoo.trees import tree_ensemble_node

    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    nodes = [tree_ensemble_node(forests, offsets, "features", "members"),
             helper.make_node("ReduceMean", ["members", "axes"], ["prediction"], keepdims=0)]
    graph = helper.make_graph(
        nodes, "nabench_zoo_trees",
        [helper.make_tensor_value_info("features", TensorProto.DOUBLE if forests[0].dtype == "float64" else TensorProto.FLOAT,
                                       ["N", sum(widths)])],
        [helper.make_tensor_value_info("prediction", TensorProto.FLOAT, ["N"]),
         helper.make_tensor_value_info("members", TensorProto.FLOAT, ["N", len(members)])],
        initializer=[axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("ai.onnx.ml", 3)],
                              producer_name="nabench")
    return model, "trees", states


def _export_gnn(members: Sequence) -> tuple:
    import onnx
    import torch
    from types import SimpleNamespace

    class Ensemble(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.nets = torch.nn.ModuleList(m.model_ for m in members)
            self.register_buffer("scale", torch.tensor([m.y_std_ for m in members], dtype=torch.float32))
            self.register_buffer("shift", torch.tensor([m.y_mean_ for m in members], dtype=torch.float32))

        def forward(self, edge_index, u, *xs):
            outs = []
            for net, x in zip(self.nets, xs):
                states = net.node_states(SimpleNamespace(x=x, edge_index=edge_index))
                pooled = [t for h in states for t in (h.mean(0, keepdim=True), h.amax(0, keepdim=True))]
                outs.append(net.score(torch.cat(pooled + [u], dim=1)).reshape(1))
            members_out = torch.cat(outs) * self.scale + self.shift
            return members_out.mean(), members_out

    if len({json.dumps(m.encoder_.get_params(), sort_keys=True) for m in members}) != 1:
        raise ZooError("gnn members use different GraphEncoder parameters; cannot share one edge_index input")
    # a small example graph for tracing: a 3-node chain with every member's feature width
    edge_index = torch.tensor([[0, 1], [1, 2]], dtype=torch.int64)
    xs = tuple(torch.rand(3, m.encoder_.n_features) for m in members)
    x_names = [f"x_{k}" for k in range(len(members))]
    buf = io.BytesIO()
    module = Ensemble().eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (edge_index, torch.zeros(1, 4), *xs), buf, dynamo=False, opset_version=18,
                          input_names=["edge_index", "u", *x_names], output_names=["prediction", "members"],
                          dynamic_axes={"edge_index": {1: "edges"}, **{n: {0: "nodes"} for n in x_names}})
    return onnx.load_from_string(buf.getvalue()), "gnn", [m.encoder_.state() for m in members]


def export(model, path: str | Path) -> Path:
    """Write the ONNX export of a :class:`~nabench.zoo.estimator.ZooModel` to ``path`` (atomically)."""
    import onnx

    names = {m.registry_name for m in model.members}
    if names <= set(TREE_MEMBERS):
        proto, kind, states = _export_trees(model.members)
    elif names == {"gnn"}:
        proto, kind, states = _export_gnn(model.members)
    else:
        raise ZooError(f"{model.name}: no ONNX export for predictor(s) {sorted(names)} "
                       f"(supported: {', '.join(TREE_MEMBERS)}, gnn)")
    for key, value in ((KIND_KEY, kind), (ENCODERS_KEY, json.dumps(states)), (ENTRY_KEY, model.name)):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_bytes(proto.SerializeToString())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


class OnnxEstimator:
    """An exported estimator: features by the nabench encoders (state read from the file), the
    model by onnxruntime."""

    def __init__(self, path: str | Path):
        import onnx
        import onnxruntime as ort

        data = Path(path).read_bytes()
        meta = {p.key: p.value for p in onnx.load_from_string(data).metadata_props}
        if KIND_KEY not in meta:
            raise ZooError(f"{path}: not an ONNX file exported from the nabench zoo (no {KIND_KEY} metadata)")
        self.kind, self.entry = meta[KIND_KEY], meta.get(ENTRY_KEY)
        states = json.loads(meta[ENCODERS_KEY])
        if self.kind == "trees":
            from nabench.encoders.tabular import TabularEncoder

            self.encoders = [TabularEncoder(**s["params"]).set_state(s["state"]) for s in states]
        else:
            from nabench.encoders.graph import GraphEncoder

            self.encoders = [GraphEncoder.from_state(s) for s in states]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self.session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        self.feature_dtype = np.float64 if self.session.get_inputs()[0].type == "tensor(double)" else np.float32

    def predict_members(self, graphs: Sequence) -> np.ndarray:
        """``[N, K]``: every member's prediction for every graph."""
        graphs = list(graphs)
        if self.kind == "trees":
            feats = np.concatenate([e.transform(graphs) for e in self.encoders], axis=1).astype(self.feature_dtype)
            return self.session.run(["members"], {"features": feats})[0].astype(np.float64)
        rows = []
        for g in graphs:
            arrays = [e.encode_arrays(g) for e in self.encoders]
            feed = {"edge_index": arrays[0][1], "u": arrays[0][2], **{f"x_{k}": a[0] for k, a in enumerate(arrays)}}
            rows.append(self.session.run(["members"], feed)[0])
        return np.asarray(rows, dtype=np.float64).reshape(len(graphs), len(self.encoders))

    def predict(self, graphs: Sequence) -> np.ndarray:
        return self.predict_members(graphs).mean(axis=1)
