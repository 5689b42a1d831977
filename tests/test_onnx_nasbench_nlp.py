"""The NAS-Bench-NLP ONNX builder: published num_params on every row, the torch reference
module's export, full ONNX check, onnxruntime (random and torch weights), malformed specs."""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import onnx
import pytest
from onnx_reference import normalized, randomized

from nabench.graph import from_onnx
from nabench.onnx_build import nasbench_nlp as N

CORPUS = "nasbench-nlp"
SMALL_VOCAB = 1000
SIMPLE = {"f": {"op": "linear", "input": ["x", "h_prev_0"]}, "h_new_0": {"op": "activation_tanh", "input": ["f"]}}


@pytest.fixture(scope="module")
def rows(corpus):
    return corpus(CORPUS).records().to_dict("records")


def sample(rows, n: int, seed: int = 0) -> list[dict]:
    """Corner cases (every op, multi-state cells, 3-input linears) first, then a seeded sample."""
    rng = np.random.default_rng(seed)
    picked: list[dict] = []
    for key in ("blend", "elementwise_prod", "elementwise_sum", "leaky_relu", "h_new_2", "h_new_1"):
        r = next(r for r in rows if key in r["recipe"] and r not in picked)
        picked.append(r)
    three = next(r for r in rows if any(len(v["input"]) == 3 and v["op"] == "linear"
                                        for v in json.loads(r["recipe"]).values()) and r not in picked)
    picked.append(three)
    rest = [r for r in rows if r not in picked]
    picked += [rest[i] for i in rng.choice(len(rest), n - len(picked), replace=False)]
    return picked


def export(net) -> onnx.ModelProto:
    """``torch.onnx.export`` (TorchScript exporter) of the one-step model, initializers as inputs."""
    import torch

    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net.eval(), net.example_inputs(), f, dynamo=False, do_constant_folding=False,
                          keep_initializers_as_inputs=True)
    return onnx.load_from_string(f.getvalue())


def test_published_num_params_all_rows(rows):
    assert len(rows) == 291
    bad = [(r["native_id"], p, r["num_params"]) for r in rows
           if (p := from_onnx(N.from_record(r, CORPUS)).params) != r["num_params"]]
    assert not bad, bad[:5]


def test_builder_and_torch_module_params_agree(rows):
    from nabench.spaces.nasbench_nlp_torch import NLPLanguageModel, n_params

    for r in sample(rows, 8, seed=3):
        assert n_params(NLPLanguageModel(r["recipe"])) == N.graph_params(r["recipe"]) == r["num_params"]


def test_full_check_all_rows(rows):
    for r in rows:
        m = N.from_record(r, CORPUS)
        onnx.checker.check_model(onnx.shape_inference.infer_shapes(m, strict_mode=True), full_check=True)
        assert len(m.graph.initializer) == 0


def test_torch_export_matches_builder(rows):
    from nabench.spaces.nasbench_nlp_torch import NLPLanguageModel

    archs = sample(rows, 22, seed=1)
    assert len({r["recipe"] for r in archs}) == 22
    for r in archs:
        # a small vocabulary keeps the export fast; the cell (what varies) is unchanged
        exported = export(NLPLanguageModel(r["recipe"], ntokens=SMALL_VOCAB))
        assert normalized(exported) == normalized(N.build_nasbench_nlp(r["recipe"], ntokens=SMALL_VOCAB)), \
            r["native_id"]


def test_onnxruntime_matches_torch(rows):
    import onnxruntime as ort
    import torch

    from nabench.spaces.nasbench_nlp_torch import NLPLanguageModel

    for k, r in enumerate(sample(rows, 7)[:3]):
        vocab = {} if k == 0 else {"ntokens": SMALL_VOCAB}
        net = randomized(NLPLanguageModel(r["recipe"], **vocab))
        with torch.no_grad():  # std 0.03: keeps the 400-600-wide sums (and logits) of order one
            for prm in net.parameters():
                prm.mul_(0.1)
        inputs = net.example_inputs()
        with torch.no_grad():
            want = [t.numpy() for t in net(*inputs)]
        m = N.build_nasbench_nlp(r["recipe"], weights=net.state_dict(), **vocab)
        onnx.checker.check_model(m, full_check=True)
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        feed = dict(zip([i.name for i in sess.get_inputs()], [t.numpy() for t in inputs]))
        got = sess.run(None, feed)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, atol=1e-4, rtol=1e-4)
        if k:
            continue
        # seeded random initializers also run
        rm = N.from_record(r, CORPUS, weights="random")
        rs = ort.InferenceSession(rm.SerializeToString(), providers=["CPUExecutionProvider"])
        out = rs.run(None, feed)
        assert out[0].shape == (1, 33278) and all(np.isfinite(o).all() for o in out)


def test_metadata_and_io():
    m = N.from_record({"recipe": json.dumps(SIMPLE), "native_id": "1000000"}, CORPUS)
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta["space"] == "nasbench-nlp" and meta["native_id"] == "1000000"
    assert [i.name for i in m.graph.input[:4]] == ["tokens", "rnns.0.h_prev_0", "rnns.1.h_prev_0", "rnns.2.h_prev_0"]
    assert [o.name for o in m.graph.output] == ["logits", "rnns.0.h_new_0", "rnns.1.h_new_0", "rnns.2.h_new_0"]
    assert from_onnx(m).params == 15_066_078  # row 1000000's published num_params


@pytest.mark.parametrize("record, field", [
    ({}, "recipe"),
    ({"recipe": 3}, "recipe"),
    ({"recipe": "{not json"}, "recipe"),
    ({"recipe": json.dumps({"a": {"op": "conv", "input": ["x"]}})}, "recipe"),
    ({"recipe": json.dumps({"h_new_0": {"op": "activation_tanh", "input": ["nope"]}})}, "recipe"),
    ({"recipe": json.dumps({"h_new_0": {"op": "activation_tanh", "input": ["x", "x"]}})}, "recipe"),
    ({"recipe": json.dumps({"h_new_0": {"op": "linear", "input": ["x", "h_prev_1"]}})}, "recipe"),
    ({"recipe": json.dumps({"a": {"op": "linear", "input": ["x"]}})}, "recipe"),
    ({"recipe": json.dumps({"h_new_0": {"op": "elementwise_sum", "input": ["a", "x"]},
                            "a": {"op": "activation_sigm", "input": ["h_new_0"]}})}, "recipe"),
])
def test_malformed_spec(record, field):
    with pytest.raises(ValueError, match=field):
        N.from_record(record, CORPUS)


def test_wrong_corpus():
    with pytest.raises(ValueError, match="corpus"):
        N.from_record({"recipe": json.dumps(SIMPLE)}, "nb201")
