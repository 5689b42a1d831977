"""The OFA MobileNetV3 (HELP ``help-ofa``, supernet w1.2) ONNX builder: faithful to the torch
reference module (export comparison, parameters, outputs), valid (full ONNX check), runnable,
small. HELP publishes no parameter or FLOP counts for this space, so there is no published-count test."""

from __future__ import annotations

import random

import numpy as np
import onnx
import pandas as pd
import pytest
from onnx_reference import export, normalized, randomized

from nabench.graph import from_onnx
from nabench.onnx_build import builder as B
from nabench.onnx_build import ofa as OFA

MAX = {"ks": [7] * 20, "e": [6] * 20, "d": [4] * 5, "r": 224}
MIN = {"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "r": 128}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def csv_records(data_root) -> pd.DataFrame:
    return pd.read_csv(data_root / "latency" / "ofa_latency_ms_12gpu_settings.csv", usecols=["ks", "e", "d", "r"])


def sample(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = [MAX, MIN]
    while len(out) < n:
        out.append({"ks": [rng.choice(OFA.KS) for _ in range(20)], "e": [rng.choice(OFA.EXPANDS) for _ in range(20)],
                    "d": [rng.choice(OFA.DEPTHS) for _ in range(5)], "r": rng.randrange(128, 225, 4)})
    return out


def _net(a: dict):
    from nabench.spaces.ofa_torch import OFAMobileNetV3Subnet

    return OFAMobileNetV3Subnet(a["ks"], a["e"], a["d"], a["r"])


def test_widths_follow_reference():
    w, final_expand, last = OFA.widths(1.2)
    assert w == [24, 24, 32, 48, 96, 136, 192] and (final_expand, last) == (1152, 1536)
    w, final_expand, last = OFA.widths(1.0)
    assert w == [16, 16, 24, 40, 80, 112, 160] and (final_expand, last) == (960, 1280)


def test_depth_selects_first_layers_of_each_stage():
    a = sample(3, seed=7)[-1]
    ks, e = list(a["ks"]), list(a["e"])
    for s, d in enumerate(a["d"]):  # changing an inactive layer changes nothing
        for j in range(d, 4):
            ks[4 * s + j], e[4 * s + j] = 3 if ks[4 * s + j] != 3 else 5, 3 if e[4 * s + j] != 3 else 6
    assert OFA.build_ofa(ks, e, a["d"], a["r"], metadata={}).SerializeToString() == \
        OFA.build_ofa(a["ks"], a["e"], a["d"], a["r"], metadata={}).SerializeToString()
    blocks = OFA.active_blocks(a["ks"], a["e"], a["d"])
    assert len(blocks) == sum(a["d"])


def test_torch_module_params_match_builder():
    import torch

    from nabench.spaces.ofa_torch import n_params

    for a in sample(12, seed=3):
        m = OFA.build_ofa(a["ks"], a["e"], a["d"], a["r"])
        with torch.device("meta"):  # shapes only, no initialisation work
            net = _net(a)
        assert n_params(net) == OFA.ofa_params(a["ks"], a["e"], a["d"]) == B.count_params(m) == from_onnx(m).params


def _export_sample(data_root) -> list[dict]:
    rows = csv_records(data_root).sample(18, random_state=1).to_dict("records")
    return [MAX, MIN] + [{"ks": r["ks"].split(), "e": r["e"].split(), "d": r["d"].split(), "r": int(r["r"])} for r in rows]


def test_torch_export_matches_builder(data_root):
    """20 architectures (the largest, the smallest, 18 corpus rows at their own resolution)."""
    archs = _export_sample(data_root)
    assert len(archs) == 20
    for a in archs:
        a = {"ks": [int(v) for v in a["ks"]], "e": [int(v) for v in a["e"]], "d": [int(v) for v in a["d"]], "r": a["r"]}
        exported = export(_net(a), (1, 3, a["r"], a["r"]))
        assert normalized(exported) == normalized(OFA.build_ofa(a["ks"], a["e"], a["d"], a["r"])), a


def _check(m: onnx.ModelProto) -> None:
    onnx.checker.check_model(onnx.shape_inference.infer_shapes(m, strict_mode=True), full_check=True)


def test_from_record_full_check_sample(data_root):
    df = csv_records(data_root).sample(30, random_state=0)
    for rec in df.to_dict("records"):
        m = OFA.from_record(rec, "help-ofa")
        _check(m)
        inp = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
        assert inp == [1, 3, rec["r"], rec["r"]]
        assert B.metadata(m)["native_id"] == OFA.native_id(rec["ks"].split(), rec["e"].split(), rec["d"].split(), rec["r"])


@pytest.mark.slow
def test_from_record_full_check_all_rows(data_root):
    df = csv_records(data_root)
    assert len(df) == 5000
    for rec in df.to_dict("records"):
        _check(OFA.from_record(rec, "help-ofa"))


@pytest.mark.parametrize("a", [MIN, sample(3, seed=11)[-1]], ids=["min", "random"])
def test_onnxruntime_matches_torch(a):
    import onnxruntime as ort
    import torch

    net = randomized(_net(a))
    x = torch.randn(1, 3, a["r"], a["r"], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = net(x).numpy()
    m = OFA.build_ofa(a["ks"], a["e"], a["d"], a["r"], weights=net.state_dict())
    onnx.checker.check_model(m, full_check=True)
    got = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
    r = OFA.build_ofa(a["ks"], a["e"], a["d"], a["r"], weights="random")
    out = ort.InferenceSession(r.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    assert out.shape == (1, 1000) and np.isfinite(out).all()


def test_weightless_has_no_data_and_is_small():
    sizes = []
    for a in sample(12, seed=5):
        blob = OFA.build_ofa(a["ks"], a["e"], a["d"], a["r"]).SerializeToString()
        assert len(onnx.load_from_string(blob).graph.initializer) == 0
        sizes.append(len(blob))
    assert max(sizes) < 128_000


def test_metadata_props():
    meta = {"corpus": "help-ofa", "space": "ofa-mbv3", "native_id": "x", "arch_id": "abc"}
    for weights in (None, "random"):
        assert B.metadata(OFA.build_ofa(MIN["ks"], MIN["e"], MIN["d"], 128, metadata=meta, weights=weights)) == meta


GOOD = {"ks": " ".join(["3"] * 20), "e": " ".join(["4"] * 20), "d": "2 3 4 2 3", "r": 160}


@pytest.mark.parametrize("change, field", [
    ({"ks": " ".join(["3"] * 19)}, "ks"),  # 19 layers
    ({"ks": " ".join(["4"] * 20)}, "ks"),  # kernel 4 not in the space
    ({"e": " ".join(["x"] * 20)}, "e"),
    ({"e": " ".join(["5"] * 20)}, "e"),
    ({"d": "2 3 4 2"}, "d"),
    ({"d": "1 2 3 4 2"}, "d"),
    ({"r": "big"}, "r"),
    ({"r": 160.5}, "r"),
    ({"r": 8}, "r"),
    ({"r": None}, "r"),
])
def test_malformed_spec_raises_value_error(change, field):
    rec = {**GOOD, **change}
    with pytest.raises(ValueError, match=f"^{field}:"):
        OFA.from_record(rec, "help-ofa")


def test_good_record_builds_and_unknown_corpus_raises():
    _check(OFA.from_record(GOOD, "help-ofa"))
    with pytest.raises(ValueError, match="corpus"):
        OFA.from_record(GOOD, "help-fbnet")
