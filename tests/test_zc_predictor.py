"""`zc` as a training-free predictor: the shared conformance suite, the ensemble, bad input."""

from __future__ import annotations

import pytest
from scipy.stats import spearmanr

from nabench.graph import from_onnx
from nabench.normalize import build_model, graph_metadata
from nabench.predictors.base import PredictorError
from nabench.predictors.conformance import check_predictor
from nabench.registry import predictors


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
    from nabench import corpora

    plain = from_onnx(build_model(corpora.load("nb201").records().iloc[0].to_dict(), "nb201"))
    with pytest.raises(PredictorError, match="names no corpus record"):
        zc().predict([plain])

