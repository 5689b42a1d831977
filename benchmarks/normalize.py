"""Normalize whole corpora (build + check_model(full_check) + from_onnx + arch_id + encoding); record
speed, stored size, graph loading and from_onnx on a large user model.

    NABENCH_HOME=... NABENCH_DATA=... python benchmarks/normalize.py      # nb201, 2 workers
    NABENCH_HOME=... python benchmarks/normalize.py --corpora nb201 analognas nb101 --full nb201 --workers 2

Per corpus: a single-process sample times each stage (mean ms per record, after 10 untimed
warm-up records), so every space gets a throughput; then ``nabench.normalize`` runs on every record of the ``--full`` corpora with
``--workers`` processes (fresh: the graphs table is removed first), reporting the stored size (raw
ONNX bytes; bytes per record on disk, split by column; each record's ONNX compressed on its own with
zstd), and ``Corpus.arch_graphs()`` decodes every graph. For nb201 it also reports how many
distinct ``arch_id`` the 15,625 cells give, compared with the NATS-Bench isomorphism classes
(``unique_str``). ``--large-model`` times ``from_onnx`` on a ResNet-50 exported with
``torch.onnx.export`` (25.6 M parameters, ~100 MB with weights). The 1-minute load average is
recorded: on a shared machine the times are upper bounds. Corpora whose space has no builder are
skipped with a note. Each run is appended to ``benchmarks/results/normalize.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def stages(corpus_name: str, n: int) -> dict:
    from nabench import corpora
    from nabench.corpora.base import KEY_COLUMNS
    from nabench.graph import arch_id, codec, from_onnx
    from nabench.normalize import _module, check_and_infer

    c = corpora.load(corpus_name)
    spec = [x.name for x in c.columns if x.kind == "spec" and x.name not in KEY_COLUMNS]
    df = c.records()[list(KEY_COLUMNS) + spec]
    step = max(len(df) // n, 1)
    recs = df.iloc[::step].head(n).to_dict("records")
    for r in df.iloc[1::step].head(10).to_dict("records"):  # warm-up (imports, operator schemas), not timed
        mod = _module(str(r["space"]))
        from_onnx(check_and_infer(mod.from_record(r, c.name, metadata={}).SerializeToString()))
    t = [0.0] * 5
    sizes = []
    for r in recs:  # the steps of nabench.normalize.normalize_record
        mod = _module(str(r["space"]))
        t0 = time.perf_counter()
        if hasattr(mod, "from_record_bytes"):
            body = mod.from_record_bytes(r, c.name, metadata={})
        else:
            body = mod.from_record(r, c.name, metadata={}).SerializeToString()
        t1 = time.perf_counter()
        inferred = check_and_infer(body)  # = check_model(full_check=True), keeping the inferred model
        t2 = time.perf_counter()
        g = from_onnx(inferred)
        t3 = time.perf_counter()
        arch_id(g)
        t4 = time.perf_counter()
        codec.dumps(g)
        t5 = time.perf_counter()
        for i, d in enumerate((t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            t[i] += d
        sizes.append(len(body))
    k = len(recs)
    names = ("build_ms", "check_full_ms", "from_onnx_ms", "arch_id_ms", "encode_ms")
    out = {name: round(1e3 * v / k, 3) for name, v in zip(names, t)}
    out["total_ms"] = round(sum(out.values()), 3)
    out["sample"] = k
    out["mean_bytes_sample"] = round(sum(sizes) / k, 1)
    return out


def storage(graphs_folder: Path, onnx_blobs: list[bytes]) -> dict:
    """Stored size per record: raw ONNX; on disk (Parquet shards, by column); each ONNX zstd-compressed alone."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = len(onnx_blobs)
    shards = sorted(graphs_folder.glob("part-*.parquet"))
    total = sum(p.stat().st_size for p in shards)
    by_col: dict[str, int] = {}
    codecs = set()
    for p in shards:
        meta = pq.ParquetFile(p).metadata
        for rg in range(meta.num_row_groups):
            for ci in range(meta.num_columns):
                col = meta.row_group(rg).column(ci)
                by_col[col.path_in_schema] = by_col.get(col.path_in_schema, 0) + col.total_compressed_size
                codecs.add(col.compression)
    alone = [len(pa.compress(b, codec="zstd", asbytes=True)) for b in onnx_blobs]
    raw = [len(b) for b in onnx_blobs]
    per = {k: round(v / n, 1) for k, v in by_col.items() if k in ("onnx", "archgraph")}
    per["other_columns"] = round(sum(v for k, v in by_col.items() if k not in ("onnx", "archgraph")) / n, 1)
    per["parquet_overhead"] = round((total - sum(by_col.values())) / n, 1)
    return {"raw_onnx_mean": round(sum(raw) / n, 1), "raw_onnx_max": max(raw),
            "disk_bytes_per_record": round(total / n, 1), "disk_by_column": per, "compression": sorted(codecs),
            "onnx_zstd_alone_mean": round(sum(alone) / n, 1), "onnx_zstd_alone_max": max(alone)}


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process and its finished children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def full(corpus_name: str, workers: int, load_graphs: bool = True) -> dict:
    from nabench import corpora
    from nabench.normalize import graphs_dir, normalize

    c = corpora.load(corpus_name)
    shutil.rmtree(graphs_dir(c.path), ignore_errors=True)
    load0 = os.getloadavg()[0]
    t0, cpu0 = time.perf_counter(), _cpu_s()
    out = normalize(corpus_name, workers=workers)
    dt, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
    load1 = os.getloadavg()[0]
    c = corpora.load(corpus_name)
    g = c.graphs()
    res = {"records": len(g), "workers": workers, "seconds": round(dt, 2), "archs_per_s": round(len(g) / dt, 1),
           "cpu_s": round(cpu, 1), "cpu_ms_per_record": round(1e3 * cpu / len(g), 2),
           "load_avg_1min": [round(load0, 2), round(load1, 2)], "distinct_arch_ids": int(g["arch_id"].nunique()),
           "storage": storage(out, g["onnx"].tolist())}
    if load_graphs:  # Corpus.arch_graphs: every ArchGraph of the corpus, decoded from the stored codec form
        load0 = os.getloadavg()[0]
        t0, cpu0 = time.perf_counter(), time.process_time()
        res["arch_graphs_n"] = len(c.arch_graphs())
        res["arch_graphs_s"] = round(time.perf_counter() - t0, 2)
        res["arch_graphs_cpu_s"] = round(time.process_time() - cpu0, 2)
        res["arch_graphs_load_avg_1min"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
    if "unique_str" in c.records().columns:
        r = c.records(with_graphs=True)
        res["distinct_unique_str"] = int(r["unique_str"].nunique())
        res["arch_ids_per_unique_str_max"] = int(r.groupby("unique_str")["arch_id"].nunique().max())
        res["unique_strs_per_arch_id_max"] = int(r.groupby("arch_id")["unique_str"].nunique().max())
    return res


def _resnet50():
    """torchvision's ResNet-50 layout (25,557,032 parameters), written out to avoid the dependency."""
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, cin, width, stride):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                nn.Conv2d(width, width * 4, 1, bias=False), nn.BatchNorm2d(width * 4))
            self.down = (nn.Sequential(nn.Conv2d(cin, width * 4, 1, stride, bias=False), nn.BatchNorm2d(width * 4))
                         if stride != 1 or cin != width * 4 else None)

        def forward(self, x):
            return torch.relu(self.body(x) + (x if self.down is None else self.down(x)))

    layers, cin = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)], 64
    for width, n, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(n):
            layers.append(Bottleneck(cin, width, stride if i == 0 else 1))
            cin = width * 4
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000))


def large_model(repeats: int = 5) -> dict:
    """from_onnx of a ResNet-50 ``torch.onnx.export`` file: from the path (skeleton read) and, for
    comparison, a full ``onnx.load`` alone; best of ``repeats`` after one warm-up call."""
    import warnings

    import onnx
    import torch

    from nabench.graph import from_onnx

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "resnet50.onnx"
        net = _resnet50()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net.train(), (torch.zeros(1, 3, 224, 224),), str(path), dynamo=False,
                              training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        g = from_onnx(path)
        first = time.perf_counter() - t0

        def best(f) -> float:
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                f()
                times.append(time.perf_counter() - t)
            return round(1e3 * min(times), 1)

        return {"model": "ResNet-50 (torch.onnx.export, training mode)", "file_mb": round(path.stat().st_size / 1e6, 1),
                "params": g.params, "flops": g.flops, "nodes": len(g.nodes),
                "from_onnx_first_ms": round(1e3 * first, 1), "from_onnx_ms": best(lambda: from_onnx(path)),
                "onnx_load_full_ms": best(lambda: onnx.load(str(path))),
                "load_avg_1min": [round(load0, 2), round(os.getloadavg()[0], 2)]}


def _append_json(rec: dict) -> None:
    path = RESULTS / "normalize.json"
    runs = []
    if path.is_file():
        old = json.loads(path.read_text())
        runs = old["runs"] if isinstance(old, dict) and "runs" in old else [old]
    runs.append(rec)
    path.write_text(json.dumps({"runs": runs}, indent=2) + "\n")


def _markdown(rec: dict) -> list[str]:
    res = rec["results"]
    lines = [f"## Run {rec['date']}", "", f"- command: `{rec['command']}`", f"- machine: {rec['machine']}",
             f"- nabench {rec['nabench']}",
             f"- 1-minute load average at start: {rec['load_avg_start']} (other jobs share the machine: "
             "times are upper bounds when it is above 0.5)", "",
             "Per record, single process (mean ms over a sample; every space):", "",
             "| corpus | build | check(full) | from_onnx | arch_id | encode | total | archs/s/core |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in res.items():
        s = r["stages"]
        lines.append(f"| {name} | {s['build_ms']} | {s['check_full_ms']} | {s['from_onnx_ms']} | {s['arch_id_ms']} "
                     f"| {s['encode_ms']} | {s['total_ms']} | {round(1e3 / s['total_ms'], 1)} |")
    fulls = {name: r["full"] for name, r in res.items() if r.get("full")}
    if fulls:
        lines += ["", "Whole corpus (`nabench.normalize.normalize`, fresh), then `Corpus.arch_graphs()` decoding "
                  "every graph (single process):", "",
                  "| corpus | records | workers | s | archs/s | CPU s (ms/record) | load avg (start, end) "
                  "| distinct arch_id | arch_graphs s (CPU s) | load avg (start, end) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for name, f in fulls.items():
            lines.append(f"| {name} | {f['records']} | {f['workers']} | {f['seconds']} | {f['archs_per_s']} "
                         f"| {f['cpu_s']} ({f['cpu_ms_per_record']}) | {f['load_avg_1min']} | {f['distinct_arch_ids']} "
                         f"| {f.get('arch_graphs_s', '-')} ({f.get('arch_graphs_cpu_s', '-')}) "
                         f"| {f.get('arch_graphs_load_avg_1min', '-')} |")
        lines += ["", "CPU s: user + system time of all processes; on an otherwise idle machine the wall time of "
                  "`workers` processes is about CPU s / workers (CPU time itself grows when other jobs share the "
                  "cores and caches, so under load this is an upper bound too)."]
        lines += ["", "Stored size per record (bytes): raw ONNX; on disk (all shards / records, by column); each "
                  "record's ONNX compressed on its own with zstd:", "",
                  "| corpus | raw ONNX mean | raw ONNX max | on disk | onnx col | archgraph col | other cols "
                  "| parquet overhead | compression | ONNX zstd alone mean | ONNX zstd alone max |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, f in fulls.items():
            s = f["storage"]
            d = s["disk_by_column"]
            lines.append(f"| {name} | {s['raw_onnx_mean']} | {s['raw_onnx_max']} | {s['disk_bytes_per_record']} "
                         f"| {d.get('onnx', '-')} | {d.get('archgraph', '-')} | {d['other_columns']} "
                         f"| {d['parquet_overhead']} | {', '.join(s['compression'])} | {s['onnx_zstd_alone_mean']} "
                         f"| {s['onnx_zstd_alone_max']} |")
        for name, f in fulls.items():
            if "distinct_unique_str" in f:
                lines += ["", f"{name}: {f['distinct_arch_ids']} distinct arch ids vs {f['distinct_unique_str']} "
                          f"NATS `unique_str` classes (at most {f['arch_ids_per_unique_str_max']} ids per class, "
                          f"{f['unique_strs_per_arch_id_max']} classes per id; see the docstring of "
                          "`tests/test_normalize.py::test_nb201_arch_id_partition_vs_unique_str`)."]
    if rec.get("large_model"):
        m = rec["large_model"]
        lines += ["", f"from_onnx on a large user model: {m['model']}, {m['file_mb']} MB, {m['params']:,} params, "
                  f"{m['nodes']} nodes: {m['from_onnx_ms']} ms (best of 5; first call {m['from_onnx_first_ms']} ms); "
                  f"a full `onnx.load` of the file alone takes {m['onnx_load_full_ms']} ms. Load average "
                  f"{m['load_avg_1min']}."]
    lines += ["", *[f"- {n}" for n in rec["notes"]], ""]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpora", nargs="*", default=["nb201"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sample", type=int, default=100)
    ap.add_argument("--stages-only", action="store_true")
    ap.add_argument("--no-load-graphs", action="store_true", help="skip timing Corpus.arch_graphs()")
    ap.add_argument("--large-model", action="store_true", help="time from_onnx on a ResNet-50 export (needs torch)")
    ap.add_argument("--full", nargs="*", default=None,
                    help="corpora to normalize whole (default: all of --corpora; none with --stages-only)")
    a = ap.parse_args()
    from nabench import __version__, corpora
    from nabench.errors import NabenchError
    from nabench.normalize import space_module

    load_start = os.getloadavg()
    results, notes = {}, []
    for name in a.corpora:
        try:
            space = corpora.importer_for(name).space
            space_module(space, name)
            if not corpora.is_built(name):
                corpora.build(name)  # from $NABENCH_DATA
        except NabenchError as e:
            notes.append(f"{name}: skipped ({e})")
            continue
        try:
            r = {"stages": stages(name, a.sample)}
            if not a.stages_only and (a.full is None or name in a.full):
                r["full"] = full(name, a.workers, load_graphs=not a.no_load_graphs)
        except NabenchError as e:
            notes.append(f"{name}: failed ({e})")
            continue
        results[name] = r
        print(name, json.dumps(r), file=sys.stderr, flush=True)
    rec = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "command": "python benchmarks/normalize.py " + " ".join(sys.argv[1:]), "nabench": __version__,
           "load_avg_start": [round(x, 2) for x in load_start],
           "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
           "results": results, "notes": notes}
    if a.large_model:
        rec["large_model"] = large_model()
        print("large model", json.dumps(rec["large_model"]), file=sys.stderr, flush=True)
    RESULTS.mkdir(exist_ok=True)
    _append_json(rec)
    md = RESULTS / "normalize.md"
    head = md.read_text().rstrip("\n") + "\n\n" if md.is_file() else (
        "# Normalize: build + check_model(full_check) + from_onnx + arch_id (+ ArchGraph encoding)\n\n"
        "Runs are appended, newest last.\n\n")
    md.write_text(head + "\n".join(_markdown(rec)))


if __name__ == "__main__":
    main()
