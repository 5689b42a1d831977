"""The NB101 ONNX builder: faithful to the trained network (published params of NB101 via
Suite-Zero's ``params`` proxy and EC-NAS-Bench's ``trainable_params``, the torch reference
module, its export), valid (full ONNX check), runnable, small."""

from __future__ import annotations

import random

import numpy as np
import onnx
import pytest
from onnx_reference import export, normalized, randomized

from nabench.graph import from_onnx
from nabench.onnx_build import builder as B
from nabench.onnx_build import nb101 as NB

C3, C1, MP = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
CORNER = [
    # input -> output only: every module is the output projection
    ([[0, 1], [0, 0]], ["input", "output"]),
    # truncation (43 -> 42 channels: v1 -> v3), concat of 3, input -> output projection added
    ([[0, 1, 1, 0, 1], [0, 0, 0, 1, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
     ["input", C3, MP, C1, "output"]),
    # a chain of maxpools (no params inside the cell but the projection)
    ([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", MP, MP, "output"]),
    # unpruned: vertex 2 is dead (no path to the output), pruned away as upstream does
    ([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]], ["input", C3, C1, "output"]),
    # 7 vertices, 9 edges, interior vertex with three predecessors, a vertex not feeding the output
    ([[0, 1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 1, 0, 1],
      [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
     ["input", C3, C1, MP, C3, C1, "output"]),
]


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Each conv runs once or twice here; torch's thread pool start-up would dominate."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ec(corpus):
    return corpus("ec-nas").records()


@pytest.fixture(scope="module")
def nb(corpus):
    return corpus("nb101").records()


def sample(ec, n: int, seed: int = 0) -> list[tuple]:
    rows = ec.to_dict("records")
    picked = random.Random(seed).sample(rows, n - len(CORNER))
    return CORNER + [NB.spec_from_record(r, "ec-nas") for r in picked]


def _check_ecnas(rows) -> int:
    bad = [(r["native_id"], p, r["trainable_params"]) for r in rows
           if (p := from_onnx(NB.from_record(r, "ec-nas")).params) != r["trainable_params"]]
    assert not bad, bad[:5]
    return len(rows)


def _check_nb101(rows) -> int:
    """Suite-Zero's ``params`` (NASLib ``get_model_parameters_number``: millions, 6 decimals)."""
    bad = [(r["native_id"], p, r["cifar10__zc_params"]) for r in rows
           if abs((p := from_onnx(NB.from_record(r, "nb101")).params) / 1e6 - r["cifar10__zc_params"]) >= 5e-7]
    assert not bad, bad[:5]
    return len(rows)


def test_published_params_sample(ec, nb):
    assert _check_ecnas(ec.sample(100, random_state=0).to_dict("records")) == 100
    pub = nb[nb["cifar10__zc_params"].notna()]
    assert _check_nb101(pub.sample(40, random_state=0).to_dict("records")) == 40


@pytest.mark.slow
def test_published_params_all_rows(ec, nb):
    assert _check_ecnas(ec.to_dict("records")) == 2623
    assert _check_nb101(nb[nb["cifar10__zc_params"].notna()].to_dict("records")) == 292


def test_torch_module_params_match_builder(ec):
    from nabench.spaces.nb101_torch import NB101Network, n_params

    for m, o in sample(ec, 12, seed=3):
        for kw in ({}, {"num_labels": 100, "stem_filters": 64, "num_stacks": 2, "modules_per_stack": 2}):
            assert n_params(NB101Network(m, o, **kw)) == NB.nb101_params(m, o, **kw) \
                == B.count_params(NB.build_nb101(m, o, **kw))


def _channel_concat(model: onnx.ModelProto) -> onnx.ModelProto:
    """``onnx_reference.normalized`` drops ``Concat`` as shape plumbing; NB101's module output is
    a data ``Concat`` on channels, so rename it before normalizing (both sides alike)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for n in m.graph.node:
        if n.op_type == "Concat" and any(a.name == "axis" and a.i == 1 for a in n.attribute):
            n.op_type = "ChannelConcat"
    return m


def test_torch_export_matches_builder(ec):
    """20 archs (5 corner cases + 15 EC-NAS cells); the skeleton is shrunk to 16 stem filters to keep
    the export fast (same ops; params checked against the torch module at full size above)."""
    from nabench.spaces.nb101_torch import NB101Network

    for m, o in sample(ec, 20, seed=1):
        kw = {"stem_filters": 16}
        exported = normalized(_channel_concat(export(NB101Network(m, o, **kw), (1, 3, 32, 32))))
        built = normalized(_channel_concat(NB.build_nb101(m, o, **kw)))
        assert exported == built, (m, o)


@pytest.mark.slow
def test_torch_export_matches_builder_full_size():
    from nabench.spaces.nb101_torch import NB101Network

    m, o = CORNER[1]
    assert normalized(_channel_concat(export(NB101Network(m, o), (1, 3, 32, 32)))) == \
        normalized(_channel_concat(NB.build_nb101(m, o)))


@pytest.mark.parametrize("i", range(len(CORNER)))
def test_full_check(ec, i):
    for m, o in (CORNER[i], sample(ec, len(CORNER) + 5, seed=7)[len(CORNER) + i]):
        for kw in ({}, {"input_size": 31}):  # odd sizes: 'same' 2x2 pooling = ceil mode
            model = NB.build_nb101(m, o, **kw)
            onnx.checker.check_model(onnx.shape_inference.infer_shapes(model, strict_mode=True), full_check=True)


def test_fast_path_is_byte_identical_to_builder(ec):
    for m, o in sample(ec, 25, seed=2):
        for kw in ({}, {"input_size": 31, "stem_filters": 16, "num_labels": 100}):
            meta = {"space": "nb101", "native_id": "x"}
            assert NB.build_nb101_bytes(m, o, metadata=meta, **kw) == NB.build_builder(m, o, **kw).model(meta).SerializeToString()


def test_from_record_both_corpora(ec, nb):
    r = ec.iloc[0].to_dict()
    m = NB.from_record(r, "ec-nas")
    assert B.metadata(m) == {"space": "nb101", "corpus": "ec-nas", "native_id": r["native_id"]}
    assert len(m.graph.initializer) == 0
    # the same cell through the nb101 corpus' encoding
    cell = NB.nb101.prune(*NB.spec_from_record(r, "ec-nas"))
    rec = {"native_id": r["nb101_hash"], "module_adjacency": cell.adjacency_str(), "module_operations": cell.ops_str()}
    assert B.count_params(NB.from_record(rec, "nb101")) == r["trainable_params"]
    assert NB.from_record(nb.iloc[0].to_dict(), "nb101", metadata={"k": "v"}).metadata_props[0].key == "k"


@pytest.mark.parametrize("corpus,record,field", [
    ("nb101", {"module_operations": "input,output"}, "module_adjacency"),
    ("nb101", {"module_adjacency": "0100", "module_operations": None}, "module_operations"),
    ("nb101", {"module_adjacency": "01", "module_operations": "input,output"}, "module_adjacency"),
    ("nb101", {"module_adjacency": "0100", "module_operations": "input,conv5x5"}, "module_operations"),
    ("nb101", {"module_adjacency": "0110", "module_operations": "input,output"}, "module_adjacency"),
    ("nb101", {"module_adjacency": "0000", "module_operations": "input,output"}, "module_adjacency"),
    ("ec-nas", {"matrix": "[[0,1],[0,0]]", "ops": "[-1,7]"}, "ops"),
    ("ec-nas", {"matrix": "[[0,1],[0,0]", "ops": "[-1,-2]"}, "matrix"),
    ("ec-nas", {"matrix": "[[0,1,1],[0,0]]", "ops": "[-1,-2]"}, "matrix"),
    ("ec-nas", {"ops": "[-1,-2]"}, "matrix"),
    ("ec-nas", {"matrix": "[[0,1],[0,0]]", "ops": "[-2,-1]"}, "ops"),
    ("nb301", {"matrix": "[[0,1],[0,0]]", "ops": "[-1,-2]"}, "corpus"),
])
def test_malformed_spec_raises_naming_field(corpus, record, field):
    with pytest.raises(ValueError, match=field):
        NB.from_record(record, corpus)


def test_weightless_is_small(ec):
    sizes = []
    for m, o in sample(ec, 30, seed=4):
        blob = NB.build_nb101(m, o).SerializeToString()
        model = onnx.load_from_string(blob)
        assert len(model.graph.initializer) == 0
        sizes.append(len(blob))
    assert max(sizes) < 80_000


@pytest.mark.parametrize("i", [1, 4])
def test_onnxruntime_matches_torch(i):
    import onnxruntime as ort
    import torch

    from nabench.spaces.nb101_torch import NB101Network

    m, o = CORNER[i]
    net = randomized(NB101Network(m, o))
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = net(x).numpy()
    model = NB.build_nb101(m, o, weights=net.state_dict())
    onnx.checker.check_model(model, full_check=True)
    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"input": x.numpy()})[0]
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got / scale, want / scale, atol=1e-4, rtol=1e-4)
    r = NB.build_nb101(m, o, weights="random")
    out = ort.InferenceSession(r.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"input": x.numpy()})[0]
    assert out.shape == (1, 10) and np.isfinite(out).all()
