"""Normalize whole corpora (build + infer_shapes + check_model(full_check) + from_onnx + arch_id); record speed.

    NABENCH_HOME=... python benchmarks/normalize.py                 # nb201, every worker
    NABENCH_HOME=... python benchmarks/normalize.py --corpora nb201 analognas nb101 --workers 2
    NABENCH_HOME=... python benchmarks/normalize.py --corpora nb201 nb101 nb301 --full nb201  # stages for all, whole corpus for nb201

Per corpus: a single-process sample times each stage (mean ms per record), then ``nabench.normalize``
runs on every record with ``--workers`` processes (fresh: the graphs table is removed first).
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
    import onnx

    from nabench import corpora
    from nabench.corpora.base import KEY_COLUMNS
    from nabench.graph import arch_id, from_onnx
    from nabench.normalize import build_model, graph_metadata

    c = corpora.load(corpus_name)
    spec = [x.name for x in c.columns if x.kind == "spec" and x.name not in KEY_COLUMNS]
    df = c.records()[list(KEY_COLUMNS) + spec]
    step = max(len(df) // n, 1)
    recs = df.iloc[::step].head(n).to_dict("records")
    t = [0.0] * 5
    sizes = []
    for r in recs:
        t0 = time.perf_counter()
        m = build_model(r, c.name, metadata=graph_metadata(c.name, r["space"], r["native_id"], "0" * 32))
        t1 = time.perf_counter()
        inf = onnx.shape_inference.infer_shapes(m, strict_mode=True)
        t2 = time.perf_counter()
        onnx.checker.check_model(inf, full_check=True)
        t3 = time.perf_counter()
        g = from_onnx(inf)  # as nabench.normalize does: shapes known, no second inference
        t4 = time.perf_counter()
        arch_id(g)
        t5 = time.perf_counter()
        for i, d in enumerate((t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            t[i] += d
        sizes.append(m.ByteSize())
    k = len(recs)
    names = ("build_ms", "infer_shapes_ms", "check_full_ms", "from_onnx_ms", "arch_id_ms")
    out = {name: round(1e3 * v / k, 3) for name, v in zip(names, t)}
    out["total_ms"] = round(sum(out.values()), 3)
    out["sample"] = k
    out["mean_bytes_sample"] = round(sum(sizes) / k, 1)
    return out


def full(corpus_name: str, workers: int) -> dict:
    from nabench import corpora
    from nabench.normalize import graphs_dir, normalize

    c = corpora.load(corpus_name)
    shutil.rmtree(graphs_dir(c.path), ignore_errors=True)
    t0 = time.perf_counter()
    normalize(corpus_name, workers=workers)
    dt = time.perf_counter() - t0
    g = corpora.load(corpus_name).graphs()
    res = {"records": len(g), "workers": workers, "seconds": round(dt, 2), "archs_per_s": round(len(g) / dt, 1),
           "mean_onnx_bytes": round(float(g["onnx_bytes"].mean()), 1), "max_onnx_bytes": int(g["onnx_bytes"].max()),
           "distinct_arch_ids": int(g["arch_id"].nunique())}
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
    ap.add_argument("--full", nargs="*", default=None,
                    help="corpora to normalize whole (default: all of --corpora; none with --stages-only)")
    a = ap.parse_args()
    from nabench import __version__, corpora
    from nabench.errors import NabenchError
    from nabench.normalize import space_module

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
                r["full"] = full(name, a.workers)
        except NabenchError as e:
            notes.append(f"{name}: failed ({e})")
            continue
        results[name] = r
        print(name, json.dumps(r), file=sys.stderr, flush=True)
    rec = {"command": "python benchmarks/normalize.py " + " ".join(sys.argv[1:]), "nabench": __version__,
           "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
           "results": results, "notes": notes}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "normalize.json").write_text(json.dumps(rec, indent=2) + "\n")
    lines = ["# Normalize: build + infer_shapes + check_model(full_check) + from_onnx + arch_id", "",
             f"- command: `{rec['command']}`", f"- machine: {rec['machine']}", f"- nabench {__version__}", "",
             "Per record, single process (mean ms over a sample):", "",
             "| corpus | build | infer_shapes | check(full) | from_onnx | arch_id | total | archs/s/core |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        s = r["stages"]
        lines.append(f"| {name} | {s['build_ms']} | {s['infer_shapes_ms']} | {s['check_full_ms']} | {s['from_onnx_ms']} "
                     f"| {s['arch_id_ms']} | {s['total_ms']} | {round(1e3 / s['total_ms'], 1)} |")
    lines += ["", "Whole corpus (`nabench.normalize.normalize`):", "",
              "| corpus | records | workers | s | archs/s | mean bytes | max bytes | distinct arch_id |", "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        f = r.get("full")
        if f:
            lines.append(f"| {name} | {f['records']} | {f['workers']} | {f['seconds']} | {f['archs_per_s']} "
                         f"| {f['mean_onnx_bytes']} | {f['max_onnx_bytes']} | {f['distinct_arch_ids']} |")
    lines += ["", *[f"- {n}" for n in notes]]
    (RESULTS / "normalize.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
