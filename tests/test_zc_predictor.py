"""`zc` as a training-free predictor: the shared conformance suite, the ensemble, graphs that name no
corpus record (user ONNX files), bad input."""

from __future__ import annotations

import dataclasses
import io
import warnings

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from nabench.graph import arch_id, from_onnx
from nabench.normalize import build_model, graph_metadata
from nabench.predictors.base import PredictorError
from nabench.predictors.conformance import check_predictor
from nabench.registry import predictors
from nabench.predictors.zc import _fit_batch
from nabench.zc.compute import _cell_seed, score_cell
from nabench.zc.convert import graph_to_onnx


@pytest.fixture(scope="module")
def graphs_and_acc(corpus):
    c = corpus("nb201")
    rec = c.records().sample(16, random_state=0)
    graphs = [from_onnx(build_model(r, "nb201", metadata=graph_metadata("nb201", r["space"], str(r["native_id"]))))
              for r in rec.to_dict("records")]
    return graphs, rec["cifar10__test_acc__200ep"].to_numpy(float)


def test_conformance(graphs_and_acc, one_torch_thread):
    graphs, y = graphs_and_acc
    check_predictor(predictors.get("zc"), graphs[:6], y[:6])


def test_predictions_rank_architectures(graphs_and_acc, one_torch_thread):
    graphs, y = graphs_and_acc
    zc = predictors.get("zc")
    syn = zc(proxy="synflow").fit(graphs, y).predict(graphs)
    ens = zc(proxy="ensemble", members=["synflow", "params", "flops"]).predict(graphs)
    assert zc(proxy="synflow").nabench_tags().requires_fit is False
    assert spearmanr(syn, y).statistic > 0.3 and spearmanr(ens, y).statistic > 0.3
    assert zc(proxy="nwot", batch_size=16).predict(graphs[:3]).shape == (3,)
    with pytest.raises(PredictorError, match="unknown proxy"):
        zc(proxy="nope").predict(graphs[:1])


def test_failed_proxy_raises_or_ranks_the_architecture_last(corpus, graphs_and_acc, one_torch_thread):
    """An NB201 cell whose output does not depend on its input (every edge into the output node is
    "none") has no jacov: an error naming it by default, the lowest score (Suite-Zero's -1e8) with
    on_failure="lowest", also inside the rank vote."""
    from nabench.predictors.zc import FAILED_SCORE

    records = corpus("nb201").records()
    dead = records[records["native_id"] == "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|none~0|none~1|none~2|"]
    graphs = graphs_and_acc[0][:3] + [from_onnx(build_model(
        r, "nb201", metadata=graph_metadata("nb201", r["space"], str(r["native_id"])))) for r in dead.to_dict("records")]
    zc = predictors.get("zc")
    with pytest.raises(PredictorError, match=r"nb201/.*none~2\|: jacov: "):
        zc(proxy="jacov", batch_size=16).predict(graphs)
    got = zc(proxy="jacov", batch_size=16, on_failure="lowest").predict(graphs)
    assert np.isfinite(got).all() and got[3] == FAILED_SCORE and (got[:3] > -1000).all()
    vote = zc(proxy="ensemble", members=["jacov", "nwot"], batch_size=16, on_failure="lowest").predict(graphs)
    assert vote[3] < vote[:3].min()
    with pytest.raises(PredictorError, match="on_failure"):
        zc(proxy="jacov", on_failure="zero").predict(graphs[:1])


def test_graph_without_corpus_record_is_rebuilt_exactly(corpus, one_torch_thread):
    """A graph that names no corpus record (what a user's ONNX file gives) is turned back into
    ONNX: same module, same weights, same score as the builder's ONNX with the same seed. NB201's
    "none" edge is a Mul by the constant 0, a value the graph keeps; without it (a graph decoded
    from a store written before values were kept) the error names the node."""
    records = corpus("nb201").records()
    zero_node = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"  # node 2 = 0
    for rec in (records[~records["native_id"].str.contains("none")].iloc[3].to_dict(),
                records[records["native_id"] == zero_node].iloc[0].to_dict()):
        model = build_model(rec, "nb201")
        plain = from_onnx(model)
        assert "corpus" not in plain.metadata
        got = predictors.get("zc")(proxy="synflow").predict([plain])
        want = score_cell(model, ["synflow"], None, seed=_cell_seed(0, arch_id(plain))).scores["synflow"]
        assert got[0] == want
    with pytest.raises(PredictorError, match="Mul.*value the ArchGraph does not keep"):
        predictors.get("zc")(proxy="synflow").predict([dataclasses.replace(plain, constants={})])


def _export(act: torch.nn.Module) -> bytes:
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), act,
                              torch.nn.Conv2d(8, 8, 3, stride=2, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 10)).train()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.randn(1, 3, 40, 40),), buf, dynamo=False, input_names=["x"],
                          training=torch.onnx.TrainingMode.TRAINING, dynamic_axes={"x": {0: "batch"}})
    return buf.getvalue()


def test_user_onnx_models(one_torch_thread):
    """Exported PyTorch models scored through their ArchGraphs; the 40x40 model gets the batch
    resized to 40x40. ReLU6 exports as a Clip whose bounds are constants the graph keeps: its
    score through the graph equals the score of the exported file itself."""
    zc = predictors.get("zc")
    exported = [_export(act) for act in (torch.nn.ReLU(), torch.nn.ELU(), torch.nn.ReLU6())]
    graphs = [from_onnx(b) for b in exported]
    x, y = torch.zeros(4, 3, 32, 32), torch.zeros(4, dtype=torch.int64)
    assert _fit_batch((x, y), graph_to_onnx(graphs[0]))[0].shape == (4, 3, 40, 40)
    for proxy in ("synflow", "snip", "nwot"):
        p = zc(proxy=proxy, batch_size=16).predict(graphs)
        assert np.isfinite(p).all() and len(set(p)) == 3
    relu6 = score_cell(exported[2], ["synflow"], None, seed=_cell_seed(0, arch_id(graphs[2]))).scores["synflow"]
    assert zc(proxy="synflow").predict(graphs[2:])[0] == relu6

