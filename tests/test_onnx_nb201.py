"""The NB201 ONNX builder: faithful to the trained network (published params/FLOPs, the torch
reference module, its export), valid (full ONNX check), runnable, small."""

from __future__ import annotations

import random

import numpy as np
import onnx
import pandas as pd
import pytest

from nabench.onnx_build import builder as B
from nabench.onnx_build import nb201 as NB
from nabench.spaces import nb201
from onnx_reference import export, normalized, randomized

CORNER = [
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",  # all none: every node zero
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
    "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",  # cell = identity
    "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|",  # disconnected: output zero, dead conv
    "|none~0|+|nor_conv_3x3~0|none~1|+|none~0|nor_conv_3x3~1|none~2|",  # conv on a zero node, dead branch
    "|none~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|nor_conv_1x1~2|",  # conv of pooled zeros
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|avg_pool_3x3~1|nor_conv_1x1~2|",
]


def sample(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return CORNER + rng.sample(nb201.all_cells(), n - len(CORNER))


def zc(data_root, dataset: str) -> pd.DataFrame:
    df = pd.read_csv(data_root / "nb201" / f"zc_proxies_{dataset}.csv", usecols=["net", "params", "flops"])
    df["arch"] = [nb201.from_naslib(nb201.parse_tuple_text(t)) for t in df["net"]]
    return df


DATASETS = {"cifar10": dict(num_classes=10, input_size=32), "ImageNet16-120": dict(num_classes=120, input_size=16)}
def _check_published(df: pd.DataFrame, dataset: str) -> None:
    """Params exactly (PyTorch convention); FLOPs exactly in tensorwatch's convention, which
    Suite-Zero used (see ``builder.tensorwatch_flops``; no constant is fitted here)."""
    kw = DATASETS[dataset]
    bad_p, bad_f = [], []
    for arch, p, f in zip(df["arch"], df["params"], df["flops"]):
        m = NB.build_nb201(arch, **kw)
        n = B.count_params(m)
        if abs(n / 1e6 - p) >= 5e-7:
            bad_p.append((arch, n, p))
        ours = B.tensorwatch_flops(NB.build_builder(arch, **kw).layers)
        if abs(ours / 1e6 - f) >= 5e-7:
            bad_f.append((arch, ours, f))
    assert not bad_p, bad_p[:5]
    assert not bad_f, bad_f[:5]


def test_tensorwatch_convention_by_hand():
    """The terms that separate Suite-Zero's count from xautodl's, for the CIFAR-10 network (final
    64 x 8 x 8 map, 10 classes): 2 per BN element, 1 per ReLU input element, a global pool of
    64 * 9 * 9 instead of 0, and no classifier bias."""
    arch = CORNER[6]
    layers = NB.build_builder(arch).layers
    bn = sum(int(np.prod(L.out_shape)) for L in layers if L.kind == "bn")
    relu = sum(int(np.prod(L.in_shape)) for L in layers if L.kind == "relu")
    # the stem BN has no ReLU; a conv_a ReLU sees twice its BN's elements (before the stride-2 conv)
    assert relu - bn == -16 * 32 * 32 + 16 * 32 * 32 // 2 + 32 * 16 * 16 // 2
    assert B.tensorwatch_flops(layers) == NB.nb201_flops(arch) + 2 * bn + relu + 64 * 9 * 9 - 10


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_published_params_and_flops_sample(data_root, dataset):
    _check_published(zc(data_root, dataset).sample(300, random_state=0), dataset)


@pytest.mark.slow
@pytest.mark.parametrize("dataset", list(DATASETS))
def test_published_params_and_flops_all_cells(data_root, dataset):
    df = zc(data_root, dataset)
    assert len(df) == 9445
    _check_published(df, dataset)


def test_flops_xautodl_convention_close_to_published(data_root):
    """The plain xautodl convention (conv/linear MACs + bias, pool k*k) is within 10% of the
    published numbers, which also count BN."""
    df = zc(data_root, "cifar10").sample(100, random_state=1)
    rel = [abs(NB.nb201_flops(a) / 1e6 - f) / f for a, f in zip(df["arch"], df["flops"])]
    assert max(rel) < 0.1  # 7.96% max, 2.5% mean over all 9,445 cells


def test_torch_module_params_match_builder():
    from nabench.spaces.nb201_torch import NB201Network, n_params

    for arch in sample(12, seed=3):
        for kw in ({}, {"num_classes": 120}):
            assert n_params(NB201Network(arch, **kw)) == NB.nb201_params(arch, **kw) \
                == B.count_params(NB.build_nb201(arch, **kw))


@pytest.mark.parametrize("arch", sample(24, seed=1))
def test_full_check(arch):
    for kw in ({}, DATASETS["ImageNet16-120"]):
        m = NB.build_nb201(arch, **kw)
        onnx.checker.check_model(onnx.shape_inference.infer_shapes(m, strict_mode=True), full_check=True)


def test_fast_path_is_byte_identical_to_builder():
    for arch in sample(30, seed=2):
        meta = {"space": "nb201", "native_id": arch}
        assert NB.build_nb201_bytes(arch, metadata=meta) == NB.build_builder(arch).model(meta).SerializeToString()


def test_metadata_props():
    meta = {"nabench_version": "0.1.0", "corpus": "nb201", "space": "nb201", "native_id": CORNER[-1],
            "arch_id": "abc123"}
    for weights in (None, "random"):
        m = NB.build_nb201(CORNER[-1], metadata=meta, weights=weights)
        assert B.metadata(m) == meta


def test_weightless_has_no_data_and_is_small():
    """The largest graph is the all-nor_conv_3x3 cell (CORNER[6]); see the module docstring for why it
    stays above 20 KB."""
    sizes = {}
    for arch in sample(60, seed=4):
        blob = NB.build_nb201_bytes(arch)
        m = onnx.load_from_string(blob)
        assert len(m.graph.initializer) == 0
        assert all(i.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for i in m.graph.input)
        sizes[arch] = len(blob)
    assert max(sizes, key=sizes.get) == CORNER[6]
    assert max(sizes.values()) < 41_000


def test_mean_size_with_corpus_metadata_under_20kb():
    """Compact names (``compact_name``) and no default-valued attributes keep the graph small."""
    sizes = [len(NB.build_nb201_bytes(a, metadata={"nabench_version": "0.1.0", "corpus": "nb201", "space": "nb201",
                                                   "native_id": a, "arch_id": "0" * 32}))
             for a in random.Random(0).sample(nb201.all_cells(), 300)]
    assert np.mean(sizes) < 20_000  # 19,585 bytes (all 15,625: benchmarks/results/normalize.md)


def test_compact_names_round_trip_to_state_dict_keys():
    from nabench.spaces.nb201_torch import NB201Network

    keys = list(NB201Network(CORNER[-1]).state_dict())
    names = [NB.compact_name(k) for k in keys]
    assert len(set(names)) == len(keys)
    assert [NB.state_dict_key(n) for n in names] == keys
    inputs = {i.name for i in NB.build_nb201(CORNER[-1]).graph.input} - {"input"}
    assert {NB.state_dict_key(n) for n in inputs} <= set(keys)


@pytest.mark.parametrize("arch", sample(22, seed=5))
def test_torch_export_matches_builder(arch):
    from nabench.spaces.nb201_torch import NB201Network

    exported = export(NB201Network(arch), (1, 3, 32, 32))
    assert normalized(exported) == normalized(NB.build_nb201(arch))


@pytest.mark.parametrize("arch", CORNER[2:6] + CORNER[-2:])
def test_onnxruntime_matches_torch(arch):
    import torch
    import onnxruntime as ort
    from nabench.spaces.nb201_torch import NB201Network

    net = randomized(NB201Network(arch))
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = net(x).numpy()
    m = NB.build_nb201(arch, weights=net.state_dict())
    onnx.checker.check_model(m, full_check=True)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
    # seeded random initializers also run
    r = NB.build_nb201(arch, weights="random")
    out = ort.InferenceSession(r.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"input": x.numpy()})[0]
    assert out.shape == (1, 10) and np.isfinite(out).all()
