"""ONNX-Bench loader, tested on ONNX files written here in the published layout."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from nabench import corpora
from nabench.errors import SourceError


def tiny_model(accuracy: str | None, key: str = "accuracy", channels: int = 4) -> onnx.ModelProto:
    """A one-conv network, simplified-export style, with the accuracy in metadata_props."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, channels, 32, 32])
    w = helper.make_tensor("w", TensorProto.FLOAT, [channels, 3, 3, 3], [0.0] * (channels * 27))
    conv = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])
    model = helper.make_model(helper.make_graph([conv], "net", [x], [y], [w]), opset_imports=[helper.make_opsetid("", 13)])
    if accuracy is not None:
        helper.set_model_props(model, {key: accuracy})
    return model


def write(root: Path, rel: str, model: onnx.ModelProto) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


@pytest.fixture
def bench(tmp_path) -> Path:
    root = tmp_path / "ONNX-Bench"
    write(root, "nasbench201_simplify/seed=777_12.onnx", tiny_model("93.12"))
    write(root, "nasbench101_simplify/cell_0f3a_9c2b.onnx", tiny_model("90.5", key="acc"))
    write(root, "einspace_simplify/cifar10/seed=0/m1.onnx", tiny_model("71.25", key="meta", channels=8))
    return root


def test_builds_from_a_folder_of_onnx_files(bench, fresh_home):
    corpus = corpora.build("onnx-bench", bench)
    df = corpus.records().set_index("native_id")
    assert len(df) == 3
    assert df.loc["nasbench201_simplify/seed=777_12", "space"] == "nb201"
    assert df.loc["nasbench201_simplify/seed=777_12", "cifar10__reported_acc__final"] == 93.12
    assert df.loc["einspace_simplify/cifar10/seed=0/m1", "metadata_key"] == "meta"  # falls back to the first entry
    assert df.loc["nasbench101_simplify/cell_0f3a_9c2b", "space"] == "nb101"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x08\x07\x12", "not a readable ONNX model"),
        (None, "no metadata_props"),
        ("ninety", "is not a number"),
        ("0.93e3", "outside 0-100"),
    ],
)
def test_bad_models_are_named(bench, fresh_home, content, message):
    bad = bench / "nasbench301_simplify" / "bananas" / "7.onnx"
    bad.parent.mkdir(parents=True)
    if isinstance(content, bytes):
        good = tiny_model("90").SerializeToString()
        bad.write_bytes(good[: len(good) // 2])
    else:
        onnx.save(tiny_model(content), bad)
    with pytest.raises(SourceError, match=f"7.onnx: .*{message}"):
        corpora.build("onnx-bench", bench)


def test_unknown_space_folder_and_empty_folder(tmp_path, fresh_home):
    write(tmp_path / "b", "darts_simplify/x.onnx", tiny_model("50"))
    with pytest.raises(SourceError, match="unknown search-space folder 'darts_simplify'"):
        corpora.build("onnx-bench", tmp_path / "b")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no .onnx files"):
        corpora.build("onnx-bench", tmp_path / "empty")
