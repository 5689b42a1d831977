"""AnalogNAS-Bench (Benmeziane et al., 2025), embedded via PyPI.

The ``analog-nasbench`` package ships ``analognasbench/data.anb``: a pickle of a dict from
a 6-tuple to an ``Architecture`` object holding CIFAR-10 accuracies of every NAS-Bench-201
cell trained and evaluated for analog in-memory computing (AIMC): the digital baseline,
post-training quantization (PTQ), quantization-aware training (QAT), the digital weights
mapped onto a simulated noisy PCM crossbar (noisy), hardware-aware training evaluated on
the analog model (analog), and the accuracy after conductance drift of 60 s, 1 h, 1 day
and 30 days for the baseline and the analog-trained network (``value ± uncertainty``).

The 6-tuple is NASLib's NB201 encoding: op indices in the order (skip_connect, none,
nor_conv_3x3, nor_conv_1x1, avg_pool_3x3), as the AnalogNAS-Bench paper lists them, and
edges in NASLib's order 0→1, 0→2, 0→3, 1→2, 1→3, 2→3 (not the NB201 string's order).
The package does not document the edge order; it was found by trying all 5!·6! op and
edge conventions against NAS-Bench-201: this one gives Spearman 0.991 between the baseline
accuracy and NB201 CIFAR-10 test accuracy (200 epochs), the next best 0.969 (the
graph-reversed order), and every other op order ≤ 0.78; the tests keep that proof. The
pickle is read with a restricted unpickler (the two stand-in classes only); the package's
own code is never imported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nabench.corpora.base import CorpusTable, Importer, Progress
from nabench.corpora.columns import Column, quality_label
from nabench.corpora.importers import package_dir
from nabench.errors import SourceError
from nabench.formats.safe_pickle import restricted_load, stand_in
from nabench.spaces import nb201

#: Upstream attribute -> (metric part of the column name, description).
ACCURACIES = {
    "baseline_accuracy": ("acc_baseline", "digital full-precision accuracy"),
    "ptq_accuracy": ("acc_ptq", "accuracy after post-training quantization"),
    "qat_accuracy": ("acc_qat", "accuracy after quantization-aware training"),
    "noisy_accuracy": ("acc_noisy", "digitally trained weights evaluated on the simulated noisy AIMC crossbar"),
    "analog_accuracy": ("acc_analog", "hardware-aware trained network evaluated on the simulated AIMC crossbar"),
}
DRIFT_TIMES = {"60": "60s", "3600": "1h", "86400": "1d", "2592000": "30d"}
DRIFTS = {
    f"{kind}_drift_{seconds}": (f"acc_{kind}_drift_{label}", f"{kind} network, accuracy after {label} of PCM conductance drift")
    for kind in ("baseline", "analog")
    for seconds, label in DRIFT_TIMES.items()
}


def _column(attr: str, metric: str, what: str) -> Column:
    return quality_label("cifar10", "test", metric, "final", unit="percent", higher_is_better=True,
                         source=f"data.anb:{attr}", description=f"CIFAR-10 {what} (AnalogNAS-Bench)")


class AnalogNASImporter(Importer):
    name = "analognas"
    version = "1.0.0"
    title = "AnalogNAS-Bench"
    space = "nb201"
    upstream = "https://github.com/IBM/analog-nas/tree/main/analognasbench (PyPI: analog-nasbench 0.1.3)"
    license = "Apache-2.0"
    citation = """@article{benmeziane2025analognasbench,
  title={AnalogNAS-Bench: A NAS Benchmark for Analog In-Memory Computing},
  author={Benmeziane, Hadjer and others}, journal={arXiv:2506.18495}, year={2025}}"""
    embedded = True

    def embedded_source(self) -> Path:
        return package_dir("analognasbench", "analog-nasbench")

    def read(self, source: Path, progress: Progress) -> CorpusTable:
        path = source / "data.anb" if source.is_dir() else source
        allowed = {("analognasbench.data", n): stand_in(n) for n in ("Architecture", "DriftMeasurement")}
        data = restricted_load(path, allowed)
        if not isinstance(data, dict):
            raise SourceError(path, f"expected a dict of architectures, found {type(data).__name__}")
        if len(data) != nb201.N_CELLS:
            raise SourceError(path, f"expected {nb201.N_CELLS} architectures, found {len(data)}")
        rows = []
        for key, arch in progress.track(data.items(), "reading AnalogNAS-Bench", total=len(data)):
            try:
                cell = nb201.from_naslib(tuple(key))
                row = {"native_id": cell, "analognas_tuple": str(tuple(int(i) for i in key))}
                for attr, (metric, _) in ACCURACIES.items():
                    row[metric] = float(getattr(arch, attr))
                for attr, (metric, _) in DRIFTS.items():
                    drift = getattr(arch, attr)
                    row[metric] = float(drift.value)
                    row[f"{metric}_std"] = float(drift.uncertainty)
            except (AttributeError, TypeError, ValueError) as e:
                raise SourceError(path, f"bad record for architecture {key!r}: {e}") from None
            rows.append(row)
        raw = pd.DataFrame(rows)
        if raw["native_id"].duplicated().any():
            raise SourceError(path, "two tuples map to the same NB201 cell")
        columns: list[Column] = [
            Column(name="analognas_tuple", kind="spec", dtype="str",
                   description="the benchmark's own key: NASLib NB201 op indices in NASLib edge order"),
        ]
        frame = pd.DataFrame({"native_id": raw["native_id"], "space": self.space, "analognas_tuple": raw["analognas_tuple"]})
        for attr, (metric, what) in {**ACCURACIES, **DRIFTS}.items():
            col = _column(attr, metric, what)
            frame[col.name] = raw[metric].astype("float64")
            columns.append(col)
            if attr in DRIFTS:
                std = Column(name=f"{col.name}__uncertainty", kind="info", dtype="float64", unit="percent",
                             dataset="cifar10", source=f"data.anb:{attr}.uncertainty",
                             description=f"± uncertainty published with {col.name}")
                frame[std.name] = raw[f"{metric}_std"].astype("float64")
                columns.append(std)
        if not np.isfinite(frame[[c.name for c in columns[1:]]].to_numpy()).all():
            raise SourceError(path, "non-finite accuracy values")
        frame = frame.sort_values("native_id", kind="stable").reset_index(drop=True)
        return CorpusTable(
            frame=frame, columns=columns, source_format="analog-nasbench data.anb pickle",
            source_files={"data.anb": path},
            notes=[
                "The 341 cells whose output is disconnected from the input score exactly 10.0 (chance) on every accuracy.",
                "Drift uncertainties are as published (value ± uncertainty strings parsed by the package).",
            ],
        )
