"""ONNX-Bench (Qin et al., 2025, "ONNX-Net"), from its published folder of ONNX files.

ONNX-Bench publishes one simplified ``.onnx`` file per trained network (649,596 CIFAR-10
models from NAS-Bench-101/201/301, NATS-Bench, hNB201 and einspace), in folders named after
the search space (``<space>_simplify/**/<name>.onnx``). The accuracy of each network is
stored inside its model, as a string in ``metadata_props`` (the ONNX-Net code reads
``metadata_props[0].value``); this importer takes the entry whose key contains ``acc`` and
falls back to the first entry. The published files do not say whether the accuracy is a
validation or a test accuracy, so the label is named ``cifar10__reported_acc__final``.

The data is not on this machine; the importer is tested on ONNX files the tests write in
this layout. Reading 650k files takes a while: the progress bar shows it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nabench.corpora.base import CorpusTable, Importer, Progress
from nabench.corpora.columns import Column, quality_label
from nabench.errors import SourceError

#: Folder names of the published spaces -> nabench space names.
SPACES = {
    "nasbench101": "nb101", "nasbench201": "nb201", "natsbench": "nats-sss", "nasbench301": "nb301",
    "hnasbench201": "hnb201", "einspace": "einspace",
}


def read_accuracy(path: Path) -> tuple[float, str]:
    """(accuracy, metadata key) stored in one ONNX-Bench model."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, OSError, ValueError) as e:
        raise SourceError(path, f"not a readable ONNX model (truncated?): {e}") from None
    props = list(model.metadata_props)
    if not props:
        raise SourceError(path, "no metadata_props: ONNX-Bench stores the accuracy there")
    chosen = next((p for p in props if "acc" in p.key.lower()), props[0])
    try:
        value = float(chosen.value)
    except ValueError:
        raise SourceError(path, f"metadata '{chosen.key}' = {chosen.value!r} is not a number") from None
    if not 0.0 <= value <= 100.0:
        raise SourceError(path, f"accuracy {value} is outside 0-100 (ONNX-Bench stores percentages)")
    return value, chosen.key


class ONNXBenchImporter(Importer):
    name = "onnx-bench"
    version = "1.0.0"
    title = "ONNX-Bench"
    space = "mixed"
    upstream = "https://huggingface.co/datasets/carlosqsw/ONNX-Bench (code: github.com/shiwenqin/ONNX-Net)"
    license = "see upstream dataset card"
    citation = """@article{qin2025onnxnet,
  title={ONNX-Net: Towards Universal Representations and Instant Performance Prediction for Neural Architectures},
  author={Qin, Shiwen and others}, journal={arXiv:2510.04938}, year={2025}}"""
    default_subdir = "onnx_bench"

    def resolve_source(self, source: Path | None) -> Path:
        root = super().resolve_source(source)
        if source is None:
            root = root / self.default_subdir
            if not root.is_dir():
                raise SourceError(root, "ONNX-Bench folder not found; pass --source DIR (the unpacked dataset)")
        return root

    def read(self, source: Path, progress: Progress) -> CorpusTable:
        if not source.is_dir():
            raise SourceError(source, "expected the ONNX-Bench folder of .onnx files")
        files = sorted(source.rglob("*.onnx"))
        if not files:
            raise SourceError(source, "no .onnx files found")
        rows = []
        for path in progress.track(files, "reading ONNX-Bench models", total=len(files)):
            rel = path.relative_to(source)
            top = rel.parts[0].removesuffix("_simplify") if len(rel.parts) > 1 else ""
            if top not in SPACES:
                raise SourceError(path, f"unknown search-space folder '{rel.parts[0]}' (known: {sorted(SPACES)})")
            accuracy, key = read_accuracy(path)
            rows.append({"native_id": rel.with_suffix("").as_posix(), "space": SPACES[top],
                         "onnx_path": rel.as_posix(), "metadata_key": key, "accuracy": accuracy})
        df = pd.DataFrame(rows)
        label = quality_label("cifar10", "reported", "acc", "final", unit="percent", higher_is_better=True,
                              source="<model>.onnx:metadata_props",
                              description="CIFAR-10 accuracy stored in the model by ONNX-Bench (split not stated upstream)")
        frame = pd.DataFrame({
            "native_id": df["native_id"], "space": df["space"], "onnx_path": df["onnx_path"],
            "metadata_key": df["metadata_key"], label.name: df["accuracy"].astype("float64"),
        })
        columns = [
            Column(name="onnx_path", kind="spec", dtype="str", description="path of the model below the source folder"),
            Column(name="metadata_key", kind="info", dtype="str", description="metadata_props key the accuracy was read from"),
            label,
        ]
        return CorpusTable(frame=frame, columns=columns, source_format="ONNX-Bench folder of .onnx files",
                           source_files={}, notes=[f"{len(files)} models read from {source.name}/"])
