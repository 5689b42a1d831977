"""Speed of the zoo's pretrained estimators: one large user model, the CLI, a whole corpus.

    python benchmarks/zoo_predict.py              # all three parts
    python benchmarks/zoo_predict.py --cells 2000 # batch part on the first 2,000 NB201 cells only

1. A ResNet-50-size model (torch bottleneck ResNet [3, 4, 6, 3], 25.6 M parameters, exported with
   weights, ~100 MB): ``zoo.load`` once, then per call ``from_onnx(file)`` and
   ``model.predict_full([graph])`` (median of 5 calls), for the embedded GBDT and GNN.
2. ``python -m nabench predict resnet50.onnx --format json`` end to end (fresh process; median of 3).
3. Batch scoring of NAS-Bench-201 (needs ``nabench corpora build nb201`` + ``nabench normalize nb201``
   in ``$NABENCH_HOME``; done first if missing, not timed): ``corpus.arch_graphs()`` (decoding the
   stored graphs) and ``predict_full`` of the embedded estimators on every cell.

Results: ``benchmarks/results/zoo_predict.md`` with the command, machine, load average and version.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
GBDT, GNN = "xgb.analognas-cifar10-analog", "gnn.analognas-cifar10-analog"


def machine() -> dict:
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}


def load_avg() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def resnet50_onnx(path: Path) -> int:
    """Export a ResNet-50-shaped network (no torchvision needed); returns its parameter count."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Bottleneck(nn.Module):
        def __init__(self, cin, mid, stride):
            super().__init__()
            cout = 4 * mid
            self.c1, self.b1 = nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid)
            self.c2, self.b2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False), nn.BatchNorm2d(mid)
            self.c3, self.b3 = nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)
            self.short = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                          if stride != 1 or cin != cout else nn.Identity())

        def forward(self, x):
            y = F.relu(self.b1(self.c1(x)))
            y = F.relu(self.b2(self.c2(y)))
            return F.relu(self.b3(self.c3(y)) + self.short(x))

    class ResNet50(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                                      nn.MaxPool2d(3, 2, 1))
            blocks, cin = [], 64
            for mid, n, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
                for i in range(n):
                    blocks.append(Bottleneck(cin, mid, stride if i == 0 else 1))
                    cin = 4 * mid
            self.blocks = nn.Sequential(*blocks)
            self.fc = nn.Linear(2048, 1000)

        def forward(self, x):
            return self.fc(F.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1).flatten(1))

    torch.manual_seed(0)
    model = ResNet50().train()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(1, 3, 224, 224),), buf, dynamo=False, opset_version=17,
                          training=torch.onnx.TrainingMode.TRAINING)
    path.write_bytes(buf.getvalue())
    return sum(p.numel() for p in model.parameters())


def single_model(path: Path, name: str, repeats: int = 5) -> dict:
    from nabench import zoo
    from nabench.graph import from_onnx

    t0 = time.perf_counter()
    model = zoo.load(name)
    load_s = time.perf_counter() - t0
    graph_ms, predict_ms = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        g = from_onnx(path)
        t1 = time.perf_counter()
        model.predict_full([g])
        t2 = time.perf_counter()
        graph_ms.append(1e3 * (t1 - t0))
        predict_ms.append(1e3 * (t2 - t1))
    return {"estimator": name, "load_s": round(load_s, 3), "from_onnx_ms": round(statistics.median(graph_ms), 1),
            "predict_ms": round(statistics.median(predict_ms), 1),
            "total_ms": round(statistics.median(a + b for a, b in zip(graph_ms, predict_ms)), 1)}


def cli(path: Path, name: str, repeats: int = 3) -> dict:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "nabench", "predict", str(path), "--model", name, "--format", "json"],
                           capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if r.returncode:
            raise SystemExit(f"nabench predict failed: {r.stderr}")
    row = json.loads(r.stdout)[0]
    return {"estimator": name, "cli_s": round(statistics.median(times), 2), "prediction": row["prediction"],
            "uncertainty": row["uncertainty"], "corpus_percentile": row["corpus_percentile"]}


def batch(cells: int | None, workers: int) -> list[dict]:
    from scipy import stats

    from nabench import corpora, zoo
    from nabench.encoders.tabular import feature_cache
    from nabench.errors import NabenchError
    from nabench.normalize import normalize

    corpus = corpora.load("nb201") if corpora.is_built("nb201") else corpora.build("nb201")
    try:
        n_graphs = len(corpus.graphs())
    except NabenchError:  # not normalized yet
        n_graphs = 0
    if n_graphs < corpus.manifest["n_records"]:
        normalize("nb201", workers=workers)
    ids = list(corpus.graphs()["native_id"])[:cells] if cells else None
    rows = []
    t0 = time.perf_counter()
    graphs = corpus.arch_graphs(ids)
    decode_s = time.perf_counter() - t0
    y = corpus.labels("cifar10__test_acc__200ep").reindex([g.metadata["native_id"] for g in graphs]).to_numpy()
    for name in (GBDT, GNN):
        model = zoo.load(name)
        with feature_cache():  # kept after predict_full, so the model-only time below re-uses its features
            t0 = time.perf_counter()
            p = model.predict_full(graphs)
            predict_s = time.perf_counter() - t0
            model_only = None
            if name == GBDT:
                features = [m.encoder_.transform(graphs) for m in model.members]
                t0 = time.perf_counter()
                for m, f in zip(model.members, features):
                    m.predict_features(f)
                model_only = round(time.perf_counter() - t0, 3)
        rows.append({"estimator": name, "cells": len(graphs), "decode_graphs_s": round(decode_s, 2),
                     "predict_s (features + model)": round(predict_s, 2), "model_only_s": model_only,
                     "total_s": round(decode_s + predict_s, 2),
                     "cells_per_s": round(len(graphs) / (decode_s + predict_s), 1),
                     "kendall_vs_nb201_cifar10": round(float(stats.kendalltau(y, p.prediction).statistic), 3)})
    return rows


def table(rows: list[dict]) -> str:
    keys = list(rows[0])
    return "\n".join(["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
                     + ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows])


def main() -> None:
    from nabench import __version__

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=None, help="Batch part on the first N NB201 cells (default: all).")
    ap.add_argument("--workers", type=int, default=2, help="Workers for normalizing NB201 if needed (not timed).")
    ap.add_argument("--skip-batch", action="store_true")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    lines = ["# Zoo estimators: load + predict, CLI, batch scoring", "",
             f"- command: `python benchmarks/zoo_predict.py {' '.join(sys.argv[1:])}`".rstrip(),
             f"- machine: {machine()}", f"- nabench {__version__}",
             f"- load average at start (1, 5, 15 min): {load_avg()}", ""]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "resnet50.onnx"
        n_params = resnet50_onnx(path)
        lines += [f"## One ResNet-50-size model ({n_params:,} parameters, {path.stat().st_size / 1e6:.1f} MB ONNX with weights)",
                  "", "Target: predict ≤ 200 ms after load (`total_ms` = reading the ONNX file into an ArchGraph + "
                  "features + model).", "", table([single_model(path, n) for n in (GBDT, GNN)]), "",
                  "## CLI end to end (`python -m nabench predict resnet50.onnx --format json`, fresh process)", "",
                  "Target: ≤ 3 s.", "", table([cli(path, n) for n in (GBDT, GNN)]), ""]
    if not args.skip_batch:
        lines += ["## Batch scoring of NAS-Bench-201 cells", "",
                  "Target: all 15,625 cells ≤ 10 s. `decode_graphs_s`: `Corpus.arch_graphs()` (stored graphs → "
                  "ArchGraph); `predict_s`: features + every ensemble member. The estimators were trained on "
                  "AnalogNAS-Bench (same space, analog accuracy), so the Kendall tau against NB201's digital "
                  "CIFAR-10 accuracy is a transfer check, not a held-out score.", "",
                  table(batch(args.cells, args.workers)), ""]
    lines += [f"Load average at end: {load_avg()}", ""]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "zoo_predict.md"
    out.write_text("\n".join(lines), encoding="utf-8")
    print(out.read_text())


if __name__ == "__main__":
    main()
