"""Zero-cost proxies: published NAS-Bench-Suite-Zero values, shared passes, failure handling."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import torch
from onnx import TensorProto, helper
from scipy.stats import spearmanr

from nabench.graph import from_onnx
from nabench.normalize import build_model
from nabench.onnx_build.nb201 import build_nb201, build_nb201_bytes
from nabench.zc import data, proxies as P
from nabench.zc.compute import score_cell
from nabench.zc.convert import to_torch


@pytest.fixture(scope="module")
def published(data_root):
    return pd.read_csv(data_root / "nb201/zc_proxies_cifar10.csv")


def test_params_equal_published_and_flops_convention(published, one_torch_thread):
    """params: published = ours, in millions (sample of 40 cells, module built from the graph).
    flops: nabench's graph MACs convert to NASLib's published MFLOPs exactly on all 9,445 cells
    with :func:`nabench.zc.proxies.naslib_nb201_mflops`."""
    cells = published.sample(20, random_state=1)
    ours = []
    for s, p in zip(cells.net_str, cells.params):
        model = build_nb201(s)
        flops = from_onnx(model).flops
        r = P.compute(to_torch(model, seed=0), None, None, ["params", "flops"], flops=flops / 1e6)
        assert r.scores["params"] == pytest.approx(p, abs=5e-7)
        ours.append(r.scores["flops"])
    assert spearmanr(ours, cells.flops).statistic > 0.99
    few = published.sample(300, random_state=3)
    converted = np.array([P.naslib_nb201_mflops(s) for s in few.net_str])
    np.testing.assert_allclose(converted, few.flops, rtol=0, atol=1e-6)


@pytest.mark.slow
def test_flops_convention_on_all_published_cells(published):
    converted = np.array([P.naslib_nb201_mflops(s) for s in published.net_str])
    np.testing.assert_allclose(converted, published.flops, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name, prefix", [("nb101", "cifar10"), ("nb301", "cifar10"), ("transnas-micro", "class_scene")])
def test_naslib_flops_convention_on_other_spaces(corpus, name, prefix):
    """NASLib's published MFLOPs of NB101, NB301 and TransNAS-micro records equal the graph's
    count converted with :func:`nabench.zc.proxies.naslib_mflops` (the raw count differs)."""
    records = corpus(name).records().dropna(subset=[f"{prefix}__zc_flops"]).sample(30, random_state=0)
    graphs = [from_onnx(build_model(rec, name)) for rec in records.to_dict("records")]
    published = records[f"{prefix}__zc_flops"].to_numpy()
    np.testing.assert_allclose([P.naslib_mflops(g, name) for g in graphs], published, rtol=0, atol=1e-6)
    assert np.abs(np.array([g.flops / 1e6 for g in graphs]) - published).min() > 1e-3
    with pytest.raises(P.ProxyError, match="no NASLib FLOP convention"):
        P.naslib_mflops(graphs[0], "transnas-macro")


def test_synflow_matches_published(published, one_torch_thread):
    cells = published.sample(24, random_state=2)
    ours = [score_cell(build_nb201_bytes(s), ["synflow"], None, seed=i, input_shape=(3, 32, 32)).scores["synflow"]
            for i, s in enumerate(cells.net_str)]
    assert spearmanr(ours, cells.synflow).statistic >= 0.95
    np.testing.assert_allclose(np.median(ours), cells.synflow.median(), rtol=0.05)


def _tiny_nb201(cell="|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"):
    return build_nb201(cell, C=4, N=1, input_size=8)


def test_shared_passes_equal_one_proxy_at_a_time(one_torch_thread):
    """Every proxy computed with the others (one shared forward/backward) equals it alone."""
    model = _tiny_nb201()
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 3, 8, 8, generator=g), torch.randint(0, 10, (8,), generator=g)
    names = P.names()
    together = P.compute(to_torch(model, seed=3), x, y, names, flops=1.0, seed=5)
    assert not together.failures and set(together.scores) == set(names)
    for n in names:
        alone = P.compute(to_torch(model, seed=3), x, y, [n], flops=1.0, seed=5)
        assert alone.scores[n] == pytest.approx(together.scores[n], rel=1e-4, abs=1e-6), n


def test_proxy_objects_and_registry():
    from nabench.registry import proxies

    assert set(P.SUITE_ZERO) < set(P.names()) and len(P.names()) == 15
    for n in P.names():
        p = proxies.get(n)
        assert p.name == n and isinstance(p.higher_is_better, bool) and p.description
    assert proxies.get("ensemble").members == P.ENSEMBLE_MEMBERS
    model = _tiny_nb201()
    assert P.get("params").score(to_torch(model)) == pytest.approx(from_onnx(model).params / 1e6)
    with pytest.raises(P.ProxyError, match="unknown proxy"):
        P.get("nope")
    with pytest.raises(P.ProxyError, match="need a batch"):
        P.compute(to_torch(model), None, None, ["snip"])


def test_rank_vote():
    v = P.rank_vote({"synflow": [1.0, 3.0, 2.0], "nwot": [10.0, 30.0, np.nan]})
    assert v.argmax() == 1 and v.argmin() == 0
    assert np.isfinite(v).all()


def test_nan_network_and_failing_op_are_recorded_not_raised(one_torch_thread):
    """A network whose output is inf, and an op the converter lacks: failures with reasons."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    w = helper.make_tensor_value_info("w", TensorProto.FLOAT, [4, 3, 3, 3])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    big = helper.make_tensor("big", TensorProto.FLOAT, [], [float("inf")])
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Mul", ["c", "big"], ["m"]),
             helper.make_node("GlobalAveragePool", ["m"], ["p"]),
             helper.make_node("Flatten", ["p"], ["y"])]
    model = helper.make_model(helper.make_graph(nodes, "inf", [x, w], [out], initializer=[big]),
                              opset_imports=[helper.make_opsetid("", 17)])
    batch = (torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 3]))
    res = score_cell(model, ["params", "synflow", "snip", "jacov", "nwot"], batch, seed=0)
    assert res.scores["params"] == pytest.approx(108 / 1e6)
    for n in ("synflow", "snip", "jacov"):
        assert n in res.failures and n not in res.scores
    bad = helper.make_model(helper.make_graph([helper.make_node("Erf", ["x"], ["y"])], "erf",
                                              [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]),
                            opset_imports=[helper.make_opsetid("", 17)])
    res = score_cell(bad, ["params", "synflow"], None, seed=0, input_shape=(3, 8, 8))
    assert not res.scores and all("Erf is not supported" in v for v in res.failures.values())


def _self_agreement(data_root) -> dict[str, float]:
    """Spearman between NASLib's two published releases (CSV, recomputed JSON) of each proxy."""
    js = json.loads((data_root / "naslib_zc_suite/zc_nasbench201_725archs_13proxies.json").read_text())["cifar10"]
    csv = pd.read_csv(data_root / "nb201/zc_proxies_cifar10.csv").set_index("net")
    common = [k for k in js if k in csv.index]
    return {p: spearmanr([js[k][p]["score"] for k in common], csv.loc[common, p]).statistic
            for p in ("epe_nas", "grasp", "plain", "jacov")}


@pytest.mark.slow
def test_data_dependent_proxies_match_published(published, data_root, one_torch_thread):
    """40 cells, real CIFAR-10 batch of 64; 0.85 for the stable proxies. Seed-dependent ones are
    held to NASLib's own agreement between its two releases (CSV vs recomputed JSON: epe_nas
    0.81, grasp 0.70, plain 0.19, jacov 0.96): epe_nas −0.15, grasp −0.3 (0.46–0.67 measured on
    40–50-cell samples), plain > 0.1, jacov 0.8 (0.86–0.93 measured)."""
    cells = published.sample(40, random_state=0)
    x, y, _ = data.batch("cifar10", batch_size=64, seed=0)
    names = ["epe_nas", "fisher", "grad_norm", "grasp", "jacov", "l2_norm", "nwot", "plain", "snip", "zen"]
    rows = [score_cell(build_nb201_bytes(s), names, (x, y), seed=i).scores for i, s in enumerate(cells.net_str)]
    ours = pd.DataFrame(rows)
    ceiling = _self_agreement(data_root)
    for n in names:
        rho = spearmanr(ours[n], cells[n]).statistic
        bar = {"epe_nas": ceiling["epe_nas"] - 0.15, "grasp": ceiling["grasp"] - 0.3, "plain": 0.1,
               "jacov": 0.8}.get(n, 0.85)
        assert rho >= bar, f"{n}: Spearman {rho:.3f} with published < {bar:.3f}"


def test_multi_input_models(corpus, one_torch_thread):
    """NAS-Bench-Graph GNNs (node features + adjacency) and NAS-Bench-NLP recurrent cells (token
    ids + hidden states): synflow gets ones/zeros for every input; zen works on the recurrent
    cells and fails with its reason on the GNNs (Gaussian noise is no adjacency); the image batch
    does not fit them, which each data-dependent proxy records."""
    batch = data.batch("cifar10", batch_size=8, seed=0)[:2]
    for name in ("nasbench-graph", "nasbench-nlp"):
        recs = corpus(name).records()
        scores = []
        for i in (0, len(recs) // 2):
            model = build_model(recs.iloc[i].to_dict(), name)
            res = score_cell(model, ["params", "synflow", "zen", "snip"], batch, seed=0)
            assert np.isfinite(res.scores["synflow"]) and "no data batch for this model's inputs" in res.failures["snip"]
            if name == "nasbench-nlp":  # zen after synflow sees the module as built
                assert res.scores["zen"] == pytest.approx(score_cell(model, ["zen"], None, seed=0).scores["zen"], rel=1e-5)
            else:
                assert "zen" not in res.scores and "Gaussian" in res.failures["zen"]
            scores.append(res.scores["synflow"])
        assert scores[0] != scores[1]


def test_converted_weights_do_not_depend_on_the_process(corpus, tmp_path):
    """Seeded weights are the same in every process (no dependence on Python's string hashing)."""
    import subprocess
    import sys

    rec = corpus("nasbench-graph").records().iloc[0].to_dict()
    path = tmp_path / "gnn.onnx"
    path.write_bytes(build_model(rec, "nasbench-graph").SerializeToString())
    code = ("import sys; from nabench.zc.compute import score_cell; "
            "print(repr(score_cell(sys.argv[1], ['synflow'], None, seed=0).scores['synflow']))")
    runs = {subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed, "OMP_NUM_THREADS": "1"}).stdout
            for seed in ("1", "2")}
    assert len(runs) == 1


def test_data_free_zen_uses_a_batch_whatever_the_file_declares(one_torch_thread):
    """The NB201 ONNX declares a batch of 1; zen without a data batch still uses 64 samples."""
    model = build_nb201_bytes("|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|")
    got = score_cell(model, ["zen", "synflow"], None, seed=4).scores
    want = P.compute(to_torch(model, seed=4), None, None, ["zen", "synflow"], input_shape=(3, 32, 32), seed=4).scores
    assert got == want
