"""The NB301 (DARTS) ONNX builder: published params (NASLib variant), the torch reference module
and its export, full ONNX check, onnxruntime runs, malformed specs."""

from __future__ import annotations

import numpy as np
import onnx
import onnx_reference as R
import pytest

from nabench.graph import from_onnx
from nabench.onnx_build import builder as B
from nabench.onnx_build import nb301 as NB

PARAMS = "cifar10__zc_params"


@pytest.fixture(scope="module")
def records(corpus):
    return corpus("nb301").records()


@pytest.fixture(scope="module")
def published(records):
    return records[records[PARAMS].notna()]


@pytest.fixture
def concat_is_data(monkeypatch):
    """DARTS cells end in a channel Concat of data tensors: keep it in the op multiset (the shared
    helper drops Concat as shape plumbing, which would cut every cell from the live graph)."""
    monkeypatch.setattr(R, "_PLUMBING", R._PLUMBING - {"Concat"})


def _genotypes(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        cells = []
        for _ in range(2):
            cell = []
            for j in range(4):
                ins = rng.choice(j + 2, 2, replace=False)
                cell += [(NB.OPS[int(rng.integers(len(NB.OPS)))], int(i)) for i in ins]
            cells.append(cell)
        out.append(NB.genotype_text(*cells))
    return out


CORNER = [
    NB.genotype_text([("skip_connect", 0), ("skip_connect", 1)] * 4, [("skip_connect", 0), ("skip_connect", 1)] * 4),
    NB.genotype_text([("max_pool_3x3", 0), ("avg_pool_3x3", 1)] * 4, [("avg_pool_3x3", 1), ("max_pool_3x3", 0)] * 4),
    # DARTS_V2 (quark0/darts cnn/genotypes.py)
    NB.genotype_text([("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
                      ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
                     [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
                      ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)]),
    NB.genotype_text([("dil_conv_5x5", 1), ("sep_conv_5x5", 0), ("dil_conv_3x3", 2), ("sep_conv_5x5", 1),
                      ("dil_conv_5x5", 3), ("sep_conv_3x3", 2), ("dil_conv_3x3", 4), ("sep_conv_5x5", 3)],
                     [("sep_conv_5x5", 0), ("dil_conv_5x5", 1), ("dil_conv_3x3", 2), ("sep_conv_3x3", 0),
                      ("skip_connect", 3), ("sep_conv_5x5", 1), ("dil_conv_5x5", 4), ("skip_connect", 0)]),
]
SAMPLE = CORNER + _genotypes(18, seed=1)


def _check_params(rows) -> None:
    bad = []
    for rec in rows.to_dict("records"):
        n = from_onnx(NB.from_record(rec, "nb301", variant="naslib")).params
        if n != round(rec[PARAMS] * 1e6):
            bad.append((rec["native_id"], n, rec[PARAMS]))
    assert not bad, bad[:5]


def test_published_params_sample(published):
    assert len(published) == 725
    _check_params(published.sample(30, random_state=0))


@pytest.mark.slow
def test_published_params_all_rows(published):
    _check_params(published)


def test_trained_variant_has_cell_bn_affine_params(published):
    """The trained (darts) network has exactly the affine weights of the cell-op BNs on top."""
    for rec in published.head(5).to_dict("records"):
        normal, reduce = NB.parse_genotype(rec["genotype"])
        extra = 0
        for i in range(8):
            red = i in (2, 5)
            c = 32 * (2 ** sum(i >= r for r in (2, 5)))
            for name, inp in (reduce if red else normal):
                n_bn = {"sep": 2, "dil": 1}.get(name[:3], 1 if name == "skip_connect" and red and inp < 2 else 0)
                extra += n_bn * 2 * c
        assert B.count_params(NB.from_record(rec, "nb301")) == round(rec[PARAMS] * 1e6) + extra


def test_torch_module_params_match_builder():
    from nabench.spaces.nb301_torch import NB301Network, n_params

    for g in SAMPLE[2:4]:
        for kw in ({}, {"variant": "naslib"}, {"auxiliary": True}, {"variant": "naslib", "num_classes": 100, "C": 16}):
            assert n_params(NB301Network(g, **kw)) == NB.nb301_params(g, **kw) == \
                from_onnx(NB.build_nb301(g, **kw)).params


@pytest.mark.parametrize("variant", ["darts", "naslib"])
def test_full_check(variant):
    for g in SAMPLE[:4]:
        for kw in ({}, {"auxiliary": True}):
            m = NB.build_nb301(g, variant=variant, **kw)
            assert not m.graph.initializer
            onnx.checker.check_model(onnx.shape_inference.infer_shapes(m, strict_mode=True), full_check=True)


#: export takes seconds per network: 4 in the default run, all 22 under ``slow``
@pytest.mark.parametrize("g", [pytest.param(g, marks=() if k in (0, 1, 7) else pytest.mark.slow)
                               for k, g in enumerate(SAMPLE)])
def test_torch_export_matches_builder(g, concat_is_data):
    from nabench.spaces.nb301_torch import NB301Network

    assert R.normalized(R.export(NB301Network(g), (1, 3, 32, 32))) == R.normalized(NB.build_nb301(g))


def test_torch_export_matches_builder_naslib(concat_is_data):
    """NASLib variant: equal up to the ``Expand`` nodes that write affine=False BN scale/bias."""
    from nabench.spaces.nb301_torch import NB301Network

    for g in SAMPLE[1:2]:
        ops, params = R.normalized(NB.build_nb301(g, variant="naslib"))
        assert ops.pop("Expand") == 6  # ones and zeros for each of the 3 widths (32, 64, 128), shared
        assert R.normalized(R.export(NB301Network(g, variant="naslib"), (1, 3, 32, 32))) == (ops, params)


@pytest.mark.parametrize("g,variant", [(CORNER[3], "darts"), (CORNER[1], "naslib")])
def test_onnxruntime_matches_torch(g, variant):
    import onnxruntime as ort
    import torch

    from nabench.spaces.nb301_torch import NB301Network

    net = R.randomized(NB301Network(g, variant=variant))
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = net(x).numpy()
    m = NB.build_nb301(g, variant=variant, weights=net.state_dict())
    onnx.checker.check_model(m, full_check=True)
    got = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    r = NB.build_nb301(g, variant=variant, weights="random")
    out = ort.InferenceSession(r.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"input": x.numpy()})[0]
    assert out.shape == (1, 10) and np.isfinite(out).all()


def test_spec_forms_agree(published):
    from nabench.corpora.importers.nb301 import parse_compact

    rec = published.iloc[0].to_dict()
    ref = NB.parse_genotype(rec["genotype"])
    assert NB.parse_genotype(rec["native_id"]) == ref
    assert NB.parse_genotype(parse_compact(rec["native_id"])) == ref
    assert NB.from_record({"normal_cell": rec["normal_cell"], "reduce_cell": rec["reduce_cell"]}, "nb301") \
        .graph == NB.from_record(rec, "nb301").graph
    meta = B.metadata(NB.from_record(rec, "nb301"))
    assert meta["native_id"] == rec["native_id"] and meta["space"] == "nb301" and meta["corpus"] == "nb301"


@pytest.mark.parametrize("rec,field", [
    ({"genotype": "Genotype(normal=[('conv_7x7', 0)], normal_concat=[2, 3, 4, 5], reduce=[], reduce_concat=[2])"},
     "genotype"),
    ({"genotype": "not a genotype"}, "genotype"),
    ({"genotype": NB.genotype_text([("skip_connect", 0), ("none", 1)] * 4, [("skip_connect", 0), ("skip_connect", 1)] * 4)},
     "genotype"),
    ({"normal_cell": "[('sep_conv_3x3', 0), ('sep_conv_3x3', 0)]", "reduce_cell": "[]"}, "normal_cell"),
    ({"normal_cell": str([("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * 4),
      "reduce_cell": str([("sep_conv_3x3", 0), ("max_pool_3x3", 5)] * 4)}, "reduce_cell"),
    ({"normal_cell": str([("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * 4)}, "reduce_cell"),
])
def test_malformed_spec(rec, field):
    with pytest.raises(ValueError, match=field):
        NB.from_record(rec, "nb301")


def test_bad_options():
    with pytest.raises(ValueError, match="variant"):
        NB.build_nb301(CORNER[0], variant="nasbench")
    with pytest.raises(ValueError, match="input_size"):
        NB.build_nb301(CORNER[0], input_size=30)
    with pytest.raises(ValueError, match="twice"):
        NB.parse_genotype(([("skip_connect", 0)] * 8, [("skip_connect", 0), ("skip_connect", 1)] * 4))
