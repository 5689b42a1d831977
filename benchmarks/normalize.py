"""Normalize whole corpora (build + check_model(full_check) + from_onnx + arch_id + encoding); record speed.

    NABENCH_HOME=... python benchmarks/normalize.py                 # nb201, every worker
    NABENCH_HOME=... python benchmarks/normalize.py --corpora nb201 analognas nb101 --workers 2
    NABENCH_HOME=... python benchmarks/normalize.py --corpora nb201 nb101 nb301 --full nb201  # stages for all, whole corpus for nb201

Per corpus: a single-process sample times each stage (mean ms per record), then ``nabench.normalize``
runs on every record with ``--workers`` processes (fresh: the graphs table is removed first), and
``Corpus.arch_graphs`` loads every graph (1 and ``--workers`` processes). The 1-minute load
average is recorded: on a shared machine the times are upper bounds.
For nb201 it also reports how many distinct ``arch_id`` the 15,625 cells give, compared with the
NATS-Bench isomorphism classes (``unique_str``). Corpora whose space has no builder module yet are
skipped with a note. Results: ``benchmarks/results/normalize.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
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


def full(corpus_name: str, workers: int, load_graphs: bool = True) -> dict:
    from nabench import corpora
    from nabench.normalize import graphs_dir, normalize

    c = corpora.load(corpus_name)
    shutil.rmtree(graphs_dir(c.path), ignore_errors=True)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    normalize(corpus_name, workers=workers)
    dt = time.perf_counter() - t0
    load1 = os.getloadavg()[0]
    c = corpora.load(corpus_name)
    g = c.graphs()
    loads = {}
    n = None
    for w in sorted({1, workers}) if load_graphs else ():  # Corpus.arch_graphs: every ArchGraph of the corpus
        t0 = time.perf_counter()
        n = len(c.arch_graphs(workers=w))
        loads[w] = round(time.perf_counter() - t0, 2)
    res = {"records": len(g), "workers": workers, "seconds": round(dt, 2), "archs_per_s": round(len(g) / dt, 1),
           "mean_onnx_bytes": round(float(g["onnx_bytes"].mean()), 1), "max_onnx_bytes": int(g["onnx_bytes"].max()),
           "distinct_arch_ids": int(g["arch_id"].nunique()), "load_avg_1min": [round(load0, 2), round(load1, 2)],
           "arch_graphs_s": loads, "arch_graphs_n": n}
    if "unique_str" in c.records().columns:
        r = c.records(with_graphs=True)
        res["distinct_unique_str"] = int(r["unique_str"].nunique())
        res["arch_ids_per_unique_str_max"] = int(r.groupby("unique_str")["arch_id"].nunique().max())
        res["unique_strs_per_arch_id_max"] = int(r.groupby("arch_id")["unique_str"].nunique().max())
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpora", nargs="*", default=["nb201"])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--sample", type=int, default=100)
    ap.add_argument("--stages-only", action="store_true")
    ap.add_argument("--no-load-graphs", action="store_true",
                    help="skip timing Corpus.arch_graphs (all graphs in memory: about 3.5 GB for nb201)")
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
    rec = {"command": "python benchmarks/normalize.py " + " ".join(sys.argv[1:]), "nabench": __version__,
           "load_avg_start": [round(x, 2) for x in load_start],
           "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
           "results": results, "notes": notes}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "normalize.json").write_text(json.dumps(rec, indent=2) + "\n")
    lines = ["# Normalize: build + check_model(full_check) + from_onnx + arch_id (+ ArchGraph encoding)", "",
             f"- command: `{rec['command']}`", f"- machine: {rec['machine']}", f"- nabench {__version__}",
             f"- 1-minute load average at start: {rec['load_avg_start']} (other jobs share the machine: "
             "times are upper bounds when it is above 0.5)", "",
             "Per record, single process (mean ms over a sample):", "",
             "| corpus | build | check(full) | from_onnx | arch_id | encode | total | archs/s/core |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        s = r["stages"]
        lines.append(f"| {name} | {s['build_ms']} | {s['check_full_ms']} | {s['from_onnx_ms']} | {s['arch_id_ms']} "
                     f"| {s['encode_ms']} | {s['total_ms']} | {round(1e3 / s['total_ms'], 1)} |")
    lines += ["", "Whole corpus (`nabench.normalize.normalize`; then `Corpus.arch_graphs(workers=w)` loading every graph):",
              "", "| corpus | records | workers | s | archs/s | load avg (start, end) | mean bytes | max bytes "
              "| distinct arch_id | arch_graphs s (by workers) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        f = r.get("full")
        if f:
            lines.append(f"| {name} | {f['records']} | {f['workers']} | {f['seconds']} | {f['archs_per_s']} "
                         f"| {f['load_avg_1min']} | {f['mean_onnx_bytes']} | {f['max_onnx_bytes']} "
                         f"| {f['distinct_arch_ids']} | {f['arch_graphs_s']} |")
    lines += ["", *[f"- {n}" for n in notes]]
    (RESULTS / "normalize.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
