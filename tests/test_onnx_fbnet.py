"""The FBNet (HW-NAS-Bench / HELP, CIFAR-100) ONNX builder: faithful to the torch reference module
(export comparison, parameters, outputs), valid (full ONNX check), runnable, small. HELP and
HW-NAS-Bench publish no parameter or FLOP counts for this space, so there is no published-count test."""

from __future__ import annotations

import random

import numpy as np
import onnx
import pandas as pd
import pytest
from onnx_reference import export, normalized, randomized

from nabench.graph import from_onnx
from nabench.onnx_build import builder as B
from nabench.onnx_build import fbnet as FB

CORNER = [
    ["skip"] * 22,  # identity everywhere except where the width or stride changes
    ["k3_e1_g2"] * 22,  # grouped 1x1 + channel shuffle in every layer
    ["k5_e1_g2"] * 22,
    ["k5_e6"] * 22,  # the largest network
    ["k3_e1"] * 22,
    ["skip", "k3_e3", *["skip"] * 20],
]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def csv_records(data_root) -> pd.DataFrame:
    return pd.read_csv(data_root / "latency" / "fbnet_latency_ms_27devices.csv", usecols=["arch_ops", "op_idx_list"])


def sample(n: int, seed: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    return [list(a) for a in CORNER] + [[rng.choice(FB.OPS) for _ in range(22)] for _ in range(n - len(CORNER))]


def test_layer_plan_follows_reference():
    plan = FB.layer_plan("cifar100")
    assert len(plan) == 22
    assert plan[0] == (16, 16, 1) and plan[1] == (16, 24, 1) and plan[5] == (24, 32, 2)
    assert plan[9] == (32, 64, 2) and plan[13] == (64, 112, 1) and plan[17] == (112, 184, 2)
    assert plan[21] == (184, 352, 1)
    assert [s for _, _, s in FB.layer_plan("imagenet")][:6] == [1, 2, 1, 1, 1, 2]


def test_torch_module_params_match_builder():
    import torch

    from nabench.spaces.fbnet_torch import FBNet, n_params

    for arch in sample(16, seed=3):
        m = FB.build_fbnet(arch)
        with torch.device("meta"):  # shapes only, no initialisation work
            net = FBNet(arch)
        assert n_params(net) == FB.fbnet_params(arch) == B.count_params(m) == from_onnx(m).params


@pytest.mark.parametrize("arch", sample(22, seed=1), ids=[f"arch{i}" for i in range(22)])
def test_torch_export_matches_builder(arch):
    from nabench.spaces.fbnet_torch import FBNet

    exported = export(FBNet(arch), (1, 3, 32, 32))
    assert normalized(exported) == normalized(FB.build_fbnet(arch))


def test_torch_export_matches_builder_imagenet_skeleton():
    from nabench.spaces.fbnet_torch import FBNet

    arch = sample(8, seed=9)[-1]
    exported = export(FBNet(arch, dataset="imagenet"), (1, 3, 224, 224))
    assert normalized(exported) == normalized(FB.build_fbnet(arch, dataset="imagenet"))


def _check(m: onnx.ModelProto) -> None:
    onnx.checker.check_model(onnx.shape_inference.infer_shapes(m, strict_mode=True), full_check=True)


def test_from_record_full_check_sample(data_root):
    df = csv_records(data_root).sample(40, random_state=0)
    for rec in df.to_dict("records"):
        m = FB.from_record(rec, "help-fbnet")
        _check(m)
        assert B.metadata(m)["native_id"] == rec["arch_ops"]
        out = m.graph.output[0].type.tensor_type.shape.dim
        assert [d.dim_value for d in out] == [1, 100]


@pytest.mark.slow
def test_from_record_full_check_all_rows(data_root):
    df = csv_records(data_root)
    assert len(df) == 5000
    for rec in df.to_dict("records"):
        _check(FB.from_record(rec, "help-fbnet"))


def test_from_record_fields_agree(data_root):
    rec = csv_records(data_root).iloc[7].to_dict()
    by_names = FB.from_record({"arch_ops": rec["arch_ops"]}, "help-fbnet")
    by_idx = FB.from_record({"op_idx_list": rec["op_idx_list"]}, "help-fbnet")
    assert by_names.SerializeToString() == by_idx.SerializeToString() == FB.from_record(rec, "help-fbnet").SerializeToString()


@pytest.mark.parametrize("arch", [CORNER[1], CORNER[5], sample(8, seed=4)[-1]])
def test_onnxruntime_matches_torch(arch):
    import onnxruntime as ort
    import torch

    from nabench.spaces.fbnet_torch import FBNet

    net = randomized(FBNet(arch))
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = net(x).numpy()
    m = FB.build_fbnet(arch, weights=net.state_dict())
    onnx.checker.check_model(m, full_check=True)
    got = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
    r = FB.build_fbnet(arch, weights="random")
    out = ort.InferenceSession(r.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    assert out.shape == (1, 100) and np.isfinite(out).all()


def test_weightless_has_no_data_and_is_small():
    sizes = []
    for arch in sample(20, seed=5):
        blob = FB.build_fbnet(arch).SerializeToString()
        m = onnx.load_from_string(blob)
        assert len(m.graph.initializer) == 0
        sizes.append(len(blob))
    assert max(sizes) < 64_000


def test_metadata_props():
    meta = {"corpus": "help-fbnet", "space": "fbnet", "native_id": " ".join(CORNER[3]), "arch_id": "abc"}
    for weights in (None, "random"):
        assert B.metadata(FB.build_fbnet(CORNER[3], metadata=meta, weights=weights)) == meta


@pytest.mark.parametrize("record, field", [
    ({"arch_ops": "k3_e1 " * 21}, "arch_ops"),  # 21 layers
    ({"arch_ops": ("k3_e1 " * 21) + "k7_e6"}, "arch_ops"),  # unknown block
    ({"arch_ops": " ".join(["3"] * 22)}, "arch_ops"),  # indices in the names column
    ({"arch_ops": 42}, "arch_ops"),
    ({"op_idx_list": " ".join(["9"] * 22)}, "op_idx_list"),  # index out of range
    ({"op_idx_list": "a b c"}, "op_idx_list"),
    ({"arch_ops": " ".join(["skip"] * 22), "op_idx_list": " ".join(["0"] * 22)}, "op_idx_list"),  # disagree
    ({}, "arch_ops"),
])
def test_malformed_spec_raises_value_error(record, field):
    with pytest.raises(ValueError, match=field):
        FB.from_record(record, "help-fbnet")


def test_unknown_corpus_raises():
    with pytest.raises(ValueError, match="corpus"):
        FB.from_record({"arch_ops": " ".join(["skip"] * 22)}, "nb201")
