"""nabench's zero-cost proxies vs the published NAS-Bench-Suite-Zero scores and vs accuracy (NB201).

For a seeded sample of the 9,445 NB201 cells of ``nb201/zc_proxies_<ds>.csv`` it computes the
proxies with nabench (graph → ONNX → torch module, batch of real images) and reports, per proxy:

- Spearman with the published score of the same cells;
- NASLib's self-agreement: Spearman between NASLib's two published releases of that proxy (the
  CSV and the recomputed ``zc_nasbench201`` JSON, other seeds/batches) on their common cells —
  the ceiling any re-implementation can reach for a seed-dependent proxy;
- Spearman with NASLib's validation accuracy (the Suite-Zero target) and with NAS-Bench-201's
  200-epoch test accuracy (mean over its seeds; BENCHMARKS.md §3 says "final accuracy") for ours
  and for the published scores, next to the BENCHMARKS.md §3 range.

Usage: python benchmarks/zc_published.py --dataset cifar10 --sample 120 --proxies suite-zero
Writes benchmarks/results/zc_published_<dataset>_<sample>.md (and .json). ``--workers N`` scores
cells in N spawned processes (one torch thread each); ``--cache F.jsonl`` keeps every scored cell
so that an interrupted run resumes where it stopped (the rows do not depend on the worker count).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from nabench import __version__
from nabench.onnx_build import nb201 as nb201_onnx
from nabench.zc import data, proxies as P
from nabench.zc.compute import _cell_seed, score_cell

#: BENCHMARKS.md §3 (Spearman with final accuracy), (low, high) per dataset.
PUBLISHED_RHO = {
    "synflow": {"cifar10": (0.737, 0.753), "cifar100": (0.763, 0.783), "ImageNet16-120": (0.751, 0.774)},
    "jacov": {"cifar10": (0.731, 0.738), "cifar100": (0.704, 0.733), "ImageNet16-120": (0.701, 0.725)},
    "nwot": {"cifar10": (0.786, 0.786), "cifar100": (0.813, 0.813), "ImageNet16-120": (0.794, 0.794)},
    "snip": {"cifar10": (0.591, 0.596), "cifar100": (0.637, 0.649), "ImageNet16-120": (0.578, 0.600)},
    "grad_norm": {"cifar10": (0.588, 0.594), "cifar100": (0.637, 0.647), "ImageNet16-120": (0.578, 0.599)},
    "grasp": {"cifar10": (0.444, 0.514), "cifar100": (0.535, 0.547), "ImageNet16-120": (0.492, 0.549)},
    "fisher": {"cifar10": (0.360, 0.488), "cifar100": (0.385, 0.548), "ImageNet16-120": (0.327, 0.508)},
    "params": {"cifar10": (0.710, 0.738), "cifar100": (0.719, 0.744), "ImageNet16-120": (0.693, 0.715)},
    "flops": {"cifar10": (0.684, 0.711), "cifar100": (0.698, 0.722), "ImageNet16-120": (0.672, 0.694)},
}
CSV_NAME = {"cifar10": "cifar10", "cifar100": "cifar10", "ImageNet16-120": "ImageNet16-120"}
JSON_FILE = "naslib_zc_suite/zc_nasbench201_725archs_13proxies.json"


def naslib_self_agreement(root: Path, dataset: str) -> dict[str, float]:
    """Spearman between the CSV release and the JSON release of each proxy on their common cells."""
    csv = pd.read_csv(root / f"nb201/zc_proxies_{CSV_NAME[dataset]}.csv").set_index("net")
    js = json.loads((root / JSON_FILE).read_text())[dataset]
    common = [k for k in js if k in csv.index]
    out = {}
    for p in P.SUITE_ZERO:
        if p in csv.columns and all(p in js[k] for k in common):
            out[p] = float(spearmanr([js[k][p]["score"] for k in common], csv.loc[common, p]).statistic)
    out["_n"] = len(common)
    return out


_WORKER: dict = {}


def _init_worker(dataset: str, names: list[str], batch_size: int, seed: int, root: str) -> None:
    torch.set_num_threads(1)
    os.environ["NABENCH_DATA"] = root
    batch = None
    if any(P.get(p).needs_data for p in names):
        x, y, _ = data.batch(dataset, batch_size=batch_size, seed=seed)
        batch = (x, y)
    _WORKER.update(dataset=dataset, names=names, batch=batch, seed=seed)


def _score_cells(cells: list[str]) -> list[dict]:
    """Score NB201 cell strings in this worker: one row per cell (scores and failure reasons)."""
    ds, names, seed = _WORKER["dataset"], _WORKER["names"], _WORKER["seed"]
    size = 16 if ds == "ImageNet16-120" else 32
    rows = []
    for s in cells:
        model = nb201_onnx.build_nb201(s, num_classes=data.NUM_CLASSES[ds], input_size=size)
        res = score_cell(model, names, _WORKER["batch"], seed=_cell_seed(seed, s), input_shape=(3, size, size))
        rows.append({"net_str": s, "scores": {p: res.scores.get(p) for p in names},
                     "failures": dict(res.failures)})
    return rows


def score_sample(cells: list[str], args: argparse.Namespace, names: list[str], root: Path) -> tuple[dict[str, dict], int]:
    """(row per cell, number scored now): rows come from the cache where present, else are computed
    in worker processes."""
    cache = Path(args.cache) if args.cache else None
    done: dict[str, dict] = {}
    if cache and cache.exists():
        for line in cache.read_text().splitlines():
            row = json.loads(line)
            if set(row["scores"]) == set(names):
                done[row["net_str"]] = row
    todo = [s for s in dict.fromkeys(cells) if s not in done]
    print(f"{len(done)} cells from the cache, {len(todo)} to score", file=sys.stderr, flush=True)
    chunks = [todo[i:i + 10] for i in range(0, len(todo), 10)]
    t0, n = time.time(), 0
    init = (args.dataset, names, args.batch_size, args.seed, str(root))
    with cf.ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn"),
                                initializer=_init_worker, initargs=init) as pool:
        sink = cache.open("a", encoding="utf-8") if cache else None
        try:
            for rows in pool.map(_score_cells, chunks):
                for row in rows:
                    done[row["net_str"]] = row
                    if sink:
                        sink.write(json.dumps(row) + "\n")
                if sink:
                    sink.flush()
                n += len(rows)
                print(f"{n}/{len(todo)} cells, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
        finally:
            if sink:
                sink.close()
    return done, len(todo)


def rho(a, b) -> float | None:
    """Spearman of ``a`` and ``b`` over the entries finite in both (3 decimals); ``None`` for
    fewer than 3 such entries or a constant side."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return None
    return round(float(spearmanr(a[ok], b[ok]).statistic), 3)


def final_accuracy(dataset: str) -> pd.Series:
    """NAS-Bench-201's 200-epoch test accuracy of ``dataset`` by cell string (the corpus is built if needed)."""
    from nabench import corpora

    corpus = corpora.load("nb201") if corpora.is_built("nb201") else corpora.build("nb201")
    records = corpus.records().set_index("native_id")
    return records[f"{dataset.lower()}__test_acc__200ep"].astype(float)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="cifar10", choices=["cifar10", "cifar100", "ImageNet16-120"])
    ap.add_argument("--sample", type=int, default=120)
    ap.add_argument("--proxies", default="suite-zero", help="comma-separated names, or suite-zero")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--workers", type=int, default=1, help="worker processes, one torch thread each")
    ap.add_argument("--cache", default=None, help="JSON-lines file of scored cells, reused on a rerun")
    args = ap.parse_args()
    root = Path(os.environ.get("NABENCH_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    os.environ["NABENCH_DATA"] = str(root)
    names = list(P.SUITE_ZERO) if args.proxies == "suite-zero" else args.proxies.split(",")
    csv = pd.read_csv(root / f"nb201/zc_proxies_{CSV_NAME[args.dataset]}.csv")
    acc = pd.read_csv(root / "nb201/naslib_val_acc_zen.csv")
    acc = acc[acc["dataset"] == args.dataset.lower()].set_index("arch_str")["val_accuracy"]
    sample = csv.sample(min(args.sample, len(csv)), random_state=args.seed).reset_index(drop=True)
    info = None
    if any(P.get(p).needs_data for p in names):
        info = data.batch(args.dataset, batch_size=args.batch_size, seed=args.seed)[2].as_dict()
    t0 = time.time()
    scored, n_new = score_sample(list(sample["net_str"]), args, names, root)
    rows = [scored[s]["scores"] for s in sample["net_str"]]
    failures: dict[str, list[str]] = {}
    for s in sample["net_str"]:
        for p, why in scored[s]["failures"].items():
            failures.setdefault(p, []).append(why)
    wall = time.time() - t0
    ours = pd.DataFrame(rows, columns=names).astype(float)
    ceiling = naslib_self_agreement(root, args.dataset)
    target = acc.reindex(sample["net_str"]).to_numpy()
    final = final_accuracy(args.dataset).reindex(sample["net_str"]).to_numpy(float)
    table = []
    for p in names:
        o = ours[p].to_numpy(float)
        pub = sample[p].to_numpy(float) if p in sample.columns else np.full(len(o), np.nan)
        lo_hi = PUBLISHED_RHO.get(p, {}).get(args.dataset)
        table.append({
            "proxy": p, "n": int((np.isfinite(o) & np.isfinite(pub)).sum()),
            "rho_vs_published": rho(o, pub),
            "naslib_self_agreement": round(ceiling[p], 3) if p in ceiling else None,
            "rho_acc_ours": rho(o, target),
            "rho_acc_published_scores": rho(pub, target),
            "rho_final_ours": rho(o, final),
            "rho_final_published_scores": rho(pub, final),
            "benchmarks_md_s3": f"{lo_hi[0]:.3f}–{lo_hi[1]:.3f}" if lo_hi else "",
            "failures": len(failures.get(p, [])),
        })
    load = os.getloadavg()
    cmd = "python benchmarks/zc_published.py " + " ".join(sys.argv[1:])
    md = [f"# Zero-cost proxies vs published NAS-Bench-Suite-Zero scores (NB201, {args.dataset})", "",
          f"- command: `{cmd}`",
          f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, {args.workers} worker(s) of 1 torch thread, load average {tuple(round(v, 2) for v in load)}",
          f"- nabench {__version__}; {len(sample)} cells sampled with seed {args.seed} from the 9,445 of "
          f"nb201/zc_proxies_{CSV_NAME[args.dataset]}.csv; "
          f"{n_new} scored in this run in {wall:.0f} s ({wall / max(n_new, 1):.2f} s/cell), the rest from --cache",
          f"- batch: {json.dumps(info)}",
          f"- weights: PyTorch default init, seeded per cell (seed {args.seed}, crc32 of the cell string); "
          "zen re-initializes N(0,1) as Zen-NAS does",
          f"- targets: NASLib validation accuracy ({args.dataset}, naslib_val_acc_zen.csv; `rho_acc_*`) and "
          f"NAS-Bench-201 200-epoch test accuracy ({args.dataset.lower()}__test_acc__200ep; `rho_final_*`); "
          f"NASLib self-agreement on {ceiling['_n']} cells common to its CSV and JSON releases", "",
          "| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    md += ["| " + " | ".join("" if v is None else str(v) for v in r.values()) + " |" for r in table]
    if failures:
        md += ["", "Failures (first reason per proxy):"] + [f"- {p}: {w[0]}" for p, w in failures.items()]
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / f"zc_published_{args.dataset}_{len(sample)}.md"
    out.write_text("\n".join(md) + "\n", encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps({"rows": table, "load": load, "command": cmd}, indent=2) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
