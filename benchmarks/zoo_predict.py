"""Speed of the zoo's pretrained estimators: one large user model, the CLI, a whole corpus.

    python benchmarks/zoo_predict.py              # all three parts
    python benchmarks/zoo_predict.py --cells 2000 # batch part on the first 2,000 NB201 records only

1. A ResNet-50-size model (torch bottleneck ResNet [3, 4, 6, 3], 25.6 M parameters, exported with
   weights, ~100 MB), in a fresh process per estimator: ``zoo.load`` (imports included), then per
   call ``from_onnx(file)`` and ``model.predict_full([graph])`` (first call, then median of 5).
2. ``python -m nabench predict resnet50.onnx --format json`` end to end (fresh process; median of 3),
   next to ``python -m nabench --help`` (interpreter + CLI start-up).
3. Batch scoring of NAS-Bench-201 (needs ``nabench corpora build nb201`` + ``nabench normalize nb201``
   in ``$NABENCH_HOME``; done first if missing, not timed): ``ZooModel.score_corpus`` end to end (worker
   processes as in the CLI, then one process), and
   its stages timed separately: reading the id table, decoding the stored graph of each distinct
   architecture, encoding (GBDT: every member's TabularEncoder, one shared feature cache), the
   members' models, broadcasting to the records; then ``nabench predict --corpus nb201 --to F``.

Results: ``benchmarks/results/zoo_predict.md`` with the command, machine, load averages and version.
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
GBDT, GNN, NB201_GBDT = "xgb.analognas-cifar10-analog", "gnn.analognas-cifar10-analog", "xgb.nb201-cifar10"


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


#: run in a fresh interpreter: what a user's first `zoo.load` + predictions cost
_SINGLE = """
import json, statistics, sys, time
t0 = time.perf_counter()
from nabench import zoo
model = zoo.load(sys.argv[2])
load_s = time.perf_counter() - t0
from nabench.graph import from_onnx
graph_ms, predict_ms = [], []
for _ in range(6):
    t0 = time.perf_counter()
    g = from_onnx(sys.argv[1])
    t1 = time.perf_counter()
    model.predict_full([g])
    t2 = time.perf_counter()
    graph_ms.append(1e3 * (t1 - t0))
    predict_ms.append(1e3 * (t2 - t1))
print(json.dumps({"load_s": load_s, "graph_ms": graph_ms, "predict_ms": predict_ms}))
"""


def single_model(path: Path, name: str) -> dict:
    r = subprocess.run([sys.executable, "-c", _SINGLE, str(path), name], capture_output=True, text=True, check=True)
    d = json.loads(r.stdout.strip().splitlines()[-1])
    graph, pred = d["graph_ms"][1:], d["predict_ms"][1:]  # first call separately: lazy imports
    return {"estimator": name, "load_s (fresh process)": round(d["load_s"], 2),
            "first_predict_ms": round(d["predict_ms"][0], 1), "from_onnx_ms": round(statistics.median(graph), 1),
            "predict_ms": round(statistics.median(pred), 1),
            "total_ms": round(statistics.median(a + b for a, b in zip(graph, pred)), 1)}


def timed_run(args: list[str], repeats: int = 3) -> tuple[float, subprocess.CompletedProcess]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "nabench", *args], capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if r.returncode:
            raise SystemExit(f"nabench {' '.join(args)} failed: {r.stderr}")
    return statistics.median(times), r


def cli(path: Path, name: str) -> dict:
    seconds, r = timed_run(["predict", str(path), "--model", name, "--format", "json"])
    row = json.loads(r.stdout)[0]
    return {"estimator": name, "cli_s": round(seconds, 2), "prediction": row["prediction"],
            "uncertainty": row["uncertainty"], "corpus_percentile": row["corpus_percentile"]}


def nb201(workers: int):
    from nabench import corpora
    from nabench.leaderboard.graphs import ensure_normalized

    corpus = corpora.load("nb201") if corpora.is_built("nb201") else corpora.build("nb201")
    ensure_normalized(corpus, list(corpus.records()["native_id"]), workers=workers)
    return corpus


def batch(corpus, name: str, cells: int | None) -> dict:
    """``score_corpus`` end to end, then the same stages one by one."""
    from scipy import stats

    from nabench import zoo
    from nabench.encoders.tabular import feature_cache
    from nabench.normalize import read_graphs

    model = zoo.load(name)
    ids = list(read_graphs(corpus.path, columns=["native_id"])["native_id"][:cells]) if cells else None
    t0 = time.perf_counter()
    scores = model.score_corpus(corpus, ids, workers=0)  # as `nabench predict --corpus`
    total = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.score_corpus(corpus, ids, workers=1)
    one_process = time.perf_counter() - t0

    t0 = time.perf_counter()
    table = read_graphs(corpus.path, columns=["native_id", "arch_id"])
    if cells:
        table = table.iloc[:cells]
    reps = table.drop_duplicates("arch_id")
    t1 = time.perf_counter()
    graphs = corpus.arch_graphs(list(reps["native_id"]))
    t2 = time.perf_counter()
    row = {"estimator": name, "records": len(table), "architectures": len(reps), "score_corpus_s": round(total, 2),
           "one_process_s": round(one_process, 2), "ids_s": round(t1 - t0, 2), "decode_s": round(t2 - t1, 2)}
    if model.entry.family == "gbdt":
        from nabench.zoo.estimator import with_arch_ids

        with feature_cache():
            t0 = time.perf_counter()
            features = [m.encoder_.transform(with_arch_ids(graphs)) for m in model.members]
            t1 = time.perf_counter()
            for m, f in zip(model.members, features):
                m.predict_features(f)
            t2 = time.perf_counter()
        row.update({"encode_s": round(t1 - t0, 2), "models_s": round(t2 - t1, 3)})
    else:
        t0 = time.perf_counter()
        model.predict_full(graphs)
        row.update({"encode_s": None, "models_s": f"{time.perf_counter() - t0:.2f} (encode + GNN)"})
    y = corpus.labels("cifar10__test_acc__200ep").reindex(scores["native_id"]).to_numpy()
    row["cells_per_s"] = round(len(table) / total, 0)
    row["kendall_vs_nb201_cifar10"] = round(float(stats.kendalltau(y, scores["prediction"]).statistic), 3)
    return row


def table(rows: list[dict]) -> str:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    return "\n".join(["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
                     + ["| " + " | ".join(str(r.get(k)) for k in keys) + " |" for r in rows])


def main() -> None:
    from nabench import __version__, zoo

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=None, help="Batch part on the first N NB201 records (default: all).")
    ap.add_argument("--workers", type=int, default=2, help="Workers for normalizing NB201 if needed (not timed).")
    ap.add_argument("--skip-batch", action="store_true")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    single = [GBDT, GNN] + ([NB201_GBDT] if NB201_GBDT in zoo.names() else [])
    lines = ["# Zoo estimators: load + predict, CLI, batch scoring", "",
             f"- command: `python benchmarks/zoo_predict.py {' '.join(sys.argv[1:])}`".rstrip(),
             f"- machine: {machine()}", f"- nabench {__version__}",
             f"- load average at start (1, 5, 15 min): {load_avg()}", ""]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "resnet50.onnx"
        n_params = resnet50_onnx(path)
        lines += [f"## One ResNet-50-size model ({n_params:,} parameters, {path.stat().st_size / 1e6:.1f} MB ONNX with weights)",
                  "", "Target: ≤ 200 ms after load (`total_ms` = `from_onnx_ms`, reading the file into an ArchGraph, "
                  "+ `predict_ms`, features + every member + percentile; medians of 5 calls after a first one). "
                  "`load_s` is `zoo.load` in a fresh interpreter, imports included.", "",
                  table([single_model(path, n) for n in single]), "",
                  f"Load average: {load_avg()}", "",
                  "## CLI end to end (`python -m nabench predict resnet50.onnx --format json`, fresh process)", "",
                  "Target: ≤ 3 s.", ""]
        help_s, _ = timed_run(["--help"])
        lines += [table([cli(path, n) for n in single]), "",
                  f"`python -m nabench --help` (interpreter + CLI start-up): {help_s:.2f} s. Load average: {load_avg()}", ""]
    if not args.skip_batch:
        corpus = nb201(args.workers)
        rows = [batch(corpus, n, args.cells) for n in single]
        with tempfile.TemporaryDirectory() as tmp:
            cli_s, _ = timed_run(["predict", "--corpus", "nb201", "--model", single[-1], "--to",
                                  str(Path(tmp) / "scores.parquet")], repeats=1)
        lines += ["## Batch scoring of NAS-Bench-201 records", "",
                  "Target: all 15,625 records ≤ 10 s. `score_corpus_s`: `ZooModel.score_corpus(workers=0)` end to "
                  "end, as `nabench predict --corpus` runs it (the distinct architectures split over one process per "
                  "CPU: this one and a spawned worker); `one_process_s`: the same with `workers=1`; then its "
                  "stages timed separately, in one process: `ids_s` reading native_id/arch_id, `decode_s` the stored graph of each "
                  "distinct architecture → ArchGraph, `encode_s` every member's TabularEncoder (one shared feature "
                  "cache), `models_s` the members' models on the feature matrices. The AnalogNAS estimators were "
                  "trained on another target (analog accuracy) in the same space, so their Kendall tau against "
                  "NB201's CIFAR-10 accuracy is a transfer check; `xgb.nb201-cifar10` was trained on 1,563 of these "
                  "architectures.", "", table(rows), "",
                  f"`nabench predict --corpus nb201 --model {single[-1]} --to scores.parquet` (fresh process, all "
                  f"records): {cli_s:.2f} s.", ""]
    lines += [f"Load average at end: {load_avg()}", ""]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "zoo_predict.md"
    out.write_text("\n".join(lines), encoding="utf-8")
    print(out.read_text())


if __name__ == "__main__":
    main()
