"""TabularEncoder on real NAS-Bench-201 cells and on small hand-made ONNX graphs."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from nabench.encoders import tabular
from nabench.encoders.tabular import EncoderError, TabularEncoder, feature_cache
from nabench.graph import ArchGraph, from_onnx
from nabench.onnx_build.nb201 import build_nb201_bytes

ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
# node 1 = conv(x), but nodes 2 and 3 ignore it: the conv is dead code; node 3 = x
DEAD_CONV = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
# every cell outputs zero (node 3 has only `none` inputs): no clean path through the network
ZERO_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"
SKIP_ONLY = "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"


def graph(arch: str, arch_id: str | None = None):
    g = from_onnx(build_nb201_bytes(arch))
    if arch_id is not None:
        g.metadata["arch_id"] = arch_id
    return g


@pytest.fixture(scope="module")
def cells():
    return {a: graph(a) for a in (ALL_CONV, DEAD_CONV, ZERO_CELL)}


def column(enc, X, name):
    names = list(enc.get_feature_names_out())
    return X[:, names.index(name)]


def test_named_features_and_shapes(cells):
    gs = list(cells.values())
    enc = TabularEncoder(min_df=1)
    X = enc.fit_transform(gs)
    names = enc.get_feature_names_out()
    assert X.shape == (3, len(names)) and X.dtype == np.float64 and np.all(np.isfinite(X))
    assert len(set(names)) == len(names)
    assert {"global__log_params", "category__conv", "op__Conv.k3x3.s1", "path__clean_weighted_mean"} <= set(names)
    np.testing.assert_array_equal(enc.transform(gs), X)
    np.testing.assert_array_equal(clone(enc).fit(gs).transform(gs), X)


def test_live_and_clean_structure(cells):
    enc = TabularEncoder(min_df=1)
    X = enc.fit_transform([cells[ALL_CONV], cells[DEAD_CONV], cells[ZERO_CELL]])
    dead = column(enc, X, "global__dead_nodes")
    assert dead[0] == 0 and dead[1] > 0  # the dead conv branch of DEAD_CONV
    clean_paths = column(enc, X, "path__clean_weighted_log_paths")
    assert clean_paths[2] == 0 and clean_paths[0] > clean_paths[1] > 0
    # 15 cells x 3 live convs per path at most + stem + 2 x 2 reduction convs + classifier
    assert column(enc, X, "path__clean_weighted_max")[0] == 15 * 3 + 1 + 4 + 1
    # DEAD_CONV: only the stem, the reduction blocks (1 or 2 convs) and the classifier
    assert column(enc, X, "path__clean_weighted_min")[1] == 1 + 2 + 1
    live_convs = column(enc, X, "op__Conv.k3x3.s1")
    assert live_convs[0] == 15 * 6 + 1 + 2 and live_convs[1] == 1 + 2


def test_path_statistics_match_enumeration():
    """Count, mean, std and max of conv-weighted paths equal a brute-force enumeration."""
    import networkx as nx

    arch = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|"
    g = from_onnx(build_nb201_bytes(arch, N=1))  # 3 cells: a few hundred paths
    enc = TabularEncoder(groups=("path",)).fit([g])
    X = enc.transform([g])
    nxg = g.to_networkx()
    src = sorted({c for _, c in g.input_edges})
    dst = sorted({p for p, _ in g.output_edges})
    weighted = {n.index for n in g.nodes if n.category in ("conv", "linear")}
    lengths = [sum(v in weighted for v in p) for s in src for d in dst for p in nx.all_simple_paths(nxg, s, d)]
    assert column(enc, X, "path__all_weighted_log_paths")[0] == pytest.approx(np.log(len(lengths)))
    assert column(enc, X, "path__all_weighted_mean")[0] == pytest.approx(np.mean(lengths))
    assert column(enc, X, "path__all_weighted_std")[0] == pytest.approx(np.std(lengths))
    assert column(enc, X, "path__all_weighted_max")[0] == max(lengths)


def test_vocabulary_from_fit_only(cells):
    enc = TabularEncoder(min_df=1).fit([graph(SKIP_ONLY)])  # every cell outputs zero: no clean op
    assert not [n for n in enc.get_feature_names_out() if n.startswith("op__")]
    X = enc.transform([cells[ALL_CONV]])
    assert X.shape == (1, len(enc.get_feature_names_out()))
    enc2 = TabularEncoder(min_df=2).fit([cells[ALL_CONV], cells[DEAD_CONV]])
    grams = [n for n in enc2.get_feature_names_out() if n.startswith("ngram__")]
    # a chain seen in only one fitted graph is dropped with min_df=2
    assert "ngram__Conv.k3x3.s1>Conv.k3x3.s1>Conv.k3x3.s1" not in grams
    assert grams


def test_extra_columns_join_by_arch_id():
    a, b = graph(ALL_CONV, "id-a"), graph(DEAD_CONV, "id-b")
    extra = pd.DataFrame({"synflow": [1.5, 2.5], "note": ["x", "y"]}, index=["id-b", "id-a"])
    enc = TabularEncoder(groups=("global",), extra=extra).fit([a, b])
    X = enc.transform([a, b, graph(ZERO_CELL, "id-c")])
    assert list(enc.get_feature_names_out())[-1] == "extra__synflow"
    np.testing.assert_array_equal(X[:2, -1], [2.5, 1.5])
    assert np.isnan(X[2, -1])


def test_feature_cache_gives_same_features(cells):
    gs = [graph(ALL_CONV, "id-a"), graph(DEAD_CONV, "id-b")]
    plain = TabularEncoder().fit_transform(gs)
    with feature_cache() as cache:
        first = TabularEncoder().fit_transform(gs)
        assert len(cache) == 2
        np.testing.assert_array_equal(TabularEncoder().fit_transform(gs), first)
    np.testing.assert_array_equal(first, plain)


def test_bad_input(cells):
    with pytest.raises(EncoderError, match="not an ArchGraph"):
        TabularEncoder().fit([cells[ALL_CONV], "graph"])
    with pytest.raises(EncoderError, match="not fitted"):
        TabularEncoder().transform([cells[ALL_CONV]])
    with pytest.raises(EncoderError, match="unknown feature group"):
        TabularEncoder(groups=("global", "colour")).fit([cells[ALL_CONV]])
    with pytest.raises(EncoderError, match="zero graphs"):
        TabularEncoder().fit([])
    with pytest.raises(EncoderError, match="list of ArchGraph"):
        TabularEncoder().fit(cells[ALL_CONV])


def test_other_spaces_encode():
    """Graphs of other spaces (a transformer-like and a plain MLP) encode to finite features."""
    g = mlp_graph()
    enc = TabularEncoder(min_df=1)
    X = enc.fit_transform([g, graph(ALL_CONV)])
    assert np.all(np.isfinite(X))
    assert column(enc, X, "path__all_weighted_max")[0] == 2
    assert column(enc, X, "path__clean_weighted_log_paths")[0] == 0  # the only path is scaled by a constant
    assert column(enc, X, "category__elementwise")[0] == 1
    assert column(enc, X, "category__clean_elementwise")[0] == 0


def mlp_graph():
    """A two-layer MLP whose only path is scaled by a constant (``x * 0.5``)."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    w1 = helper.make_tensor("w1", TensorProto.FLOAT, [8, 16], np.zeros(128, np.float32))
    w2 = helper.make_tensor("w2", TensorProto.FLOAT, [16, 4], np.zeros(64, np.float32))
    s = helper.make_tensor("s", TensorProto.FLOAT, [], [0.5])
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Mul", ["r", "s"], ["m"]), helper.make_node("MatMul", ["m", "w2"], ["y"])]
    model = helper.make_model(helper.make_graph(nodes, "mlp", [x], [y], [w1, w2, s]),
                              opset_imports=[helper.make_opsetid("", 17)])
    return from_onnx(model.SerializeToString())


def small_graphs():
    """Graphs of three spaces, small enough to enumerate every input→output path."""
    from nabench.onnx_build.nb101 import build_nb101_bytes

    matrix = [[0, 1, 1, 0, 0, 1, 0], [0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 1, 0],
              [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]]
    ops = ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "conv3x3-bn-relu", "conv3x3-bn-relu", "output"]
    nb201 = [from_onnx(build_nb201_bytes(a, N=1)) for a in (
        ALL_CONV, DEAD_CONV, ZERO_CELL, "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|skip_connect~2|")]
    return [*nb201, from_onnx(build_nb101_bytes(matrix, ops, num_stacks=2, modules_per_stack=1)), mlp_graph()]


def enumerated(g, n_max: int = 3) -> dict:
    """The encoder's path, liveness, op-token and n-gram features of ``g`` straight from their
    definitions, by enumerating every input→output path (a slow, independent reference)."""
    import networkx as nx

    nxg = g.to_networkx()
    tokens = [tabular.node_token(n) for n in g.nodes]
    blocked = {i for i, t in enumerate(tokens) if t.endswith(".scalar")}
    dst = sorted({p for p, _ in g.output_edges})
    paths = [p for s in sorted({c for _, c in g.input_edges}) for d in dst
             for p in ([[s]] if s == d else nx.all_simple_paths(nxg, s, d))]
    clean_paths = [p for p in paths if not blocked & set(p)]
    live, clean = set().union(*paths), set().union(*clean_paths)
    costs = {"weighted": [float(n.category in tabular.WEIGHTED) for n in g.nodes],
             "extent": [float(tabular._kernel_extent(n)) for n in g.nodes]}
    out = {"global__live_nodes": len(live), "global__clean_nodes": len(clean)}
    for tag, ps in (("all", paths), ("clean", clean_paths)):
        for what, cost in costs.items():
            v = np.array([sum(cost[i] for i in p) for p in ps])
            stats = [np.log(len(v)), v.mean(), v.std(), v.min(), v.max()] if len(v) else [0.0] * 5
            out.update({f"path__{tag}_{what}_{k}": x for k, x in zip(tabular._PATH_STATS, stats)})
    out.update({f"op__{t}": c for t, c in Counter(tokens[i] for i in clean).items()})
    keep = {i for i in clean if g.nodes[i].category not in tabular.TRANSPARENT}
    succ = {i: set() for i in keep}  # contracted graph: skip clean transparent nodes
    for i in keep:
        todo = [j for j in nxg.successors(i) if j in clean]
        while todo:
            j = todo.pop()
            if j in keep:
                succ[i].add(j)
            else:
                todo += [k for k in nxg.successors(j) if k in clean]
    grams = Counter()

    def walk(chain):
        if len(chain) >= 2:
            grams["ngram__" + ">".join(tokens[i] for i in chain)] += 1
        if len(chain) < n_max:
            for j in succ[chain[-1]]:
                walk(chain + [j])

    for i in keep:
        walk([i])
    return {**out, **grams}


@pytest.mark.parametrize("n_max", [2, 3, 4])
def test_features_match_path_enumeration(n_max):
    """Path statistics, live/clean node counts, op tokens and n-grams of graphs from three spaces
    equal a brute-force enumeration of every path (the encoder computes them by dynamic
    programming over all graphs of a batch at once)."""
    gs = small_graphs()
    enc = TabularEncoder(min_df=1, max_ngram=n_max, max_ngrams=None, max_tokens=None)
    X = enc.fit_transform(gs)
    names = list(enc.get_feature_names_out())
    for row, g in zip(X, gs):
        got = dict(zip(names, row))
        want = enumerated(g, n_max)
        for name, value in want.items():
            assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name
        learned = {n: v for n, v in got.items() if n.startswith(("op__", "ngram__")) and v}
        assert learned == {n: v for n, v in want.items() if n.startswith(("op__", "ngram__"))}


def test_batches_do_not_mix(monkeypatch):
    """A graph's features do not depend on the other graphs encoded with it, nor on batch size."""
    gs = small_graphs() + [graph(ALL_CONV)]
    enc = TabularEncoder(min_df=1).fit(gs)
    together = enc.transform(gs)
    np.testing.assert_allclose(np.vstack([enc.transform([g]) for g in gs]), together, rtol=1e-12, atol=0)
    monkeypatch.setattr(tabular, "BATCH_GRAPHS", 2)
    np.testing.assert_allclose(enc.transform(gs[::-1])[::-1], together, rtol=1e-12, atol=0)


def test_empty_graph_and_edge_order():
    empty = ArchGraph(nodes=[], edges=[], inputs=[], outputs=[], input_edges=[], output_edges=[],
                      output_sources=[], weights=[], params=0, flops=0, depth=0)
    X = TabularEncoder(min_df=1).fit_transform([empty, graph(ALL_CONV), empty])
    assert not X[0].any() and not X[2].any() and X[1].any()
    g = graph(ALL_CONV, "id-a")
    backwards = replace(g, edges=[(b, a) for a, b in g.edges])
    with pytest.raises(EncoderError, match="topological order"):
        TabularEncoder().fit([g, backwards])


def test_state_with_reordered_names():
    """A saved vocabulary whose fixed features are listed in another order gets its columns in
    that order; a fixed feature the groups do not compute is a clear error."""
    gs = [graph(ALL_CONV), graph(DEAD_CONV)]
    enc = TabularEncoder(groups=("global", "shape")).fit(gs)
    state = enc.state()
    state["fixed_names"] = state["fixed_names"][::-1]
    X = TabularEncoder(groups=("global", "shape")).set_state(state).transform(gs)
    np.testing.assert_array_equal(X, enc.transform(gs)[:, ::-1])
    state["fixed_names"].append("global__colour")
    with pytest.raises(EncoderError, match="global__colour"):
        TabularEncoder(groups=("global", "shape")).set_state(state).transform(gs)
