"""nabench's zero-cost proxies vs the published NAS-Bench-Suite-Zero scores and vs accuracy (NB201).

For a seeded sample of the 9,445 NB201 cells of ``nb201/zc_proxies_<ds>.csv`` it computes the
proxies with nabench (graph → ONNX → torch module, batch of real images) and reports, per proxy:

- Spearman with the published score of the same cells;
- NASLib's self-agreement: Spearman between NASLib's two published releases of that proxy (the
  CSV and the recomputed ``zc_nasbench201`` JSON, other seeds/batches) on their common cells —
  the ceiling any re-implementation can reach for a seed-dependent proxy;
- Spearman with NASLib's validation accuracy (the Suite-Zero target) for ours and for the
  published scores, next to the BENCHMARKS.md §3 range.

Usage: python benchmarks/zc_published.py --dataset cifar10 --sample 120 --proxies suite-zero
Writes benchmarks/results/zc_published_<dataset>_<sample>.md (and .json).
"""

from __future__ import annotations

import argparse
import json
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="cifar10", choices=["cifar10", "cifar100", "ImageNet16-120"])
    ap.add_argument("--sample", type=int, default=120)
    ap.add_argument("--proxies", default="suite-zero", help="comma-separated names, or suite-zero")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    root = Path(os.environ.get("NABENCH_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    os.environ["NABENCH_DATA"] = str(root)
    names = list(P.SUITE_ZERO) if args.proxies == "suite-zero" else args.proxies.split(",")
    csv = pd.read_csv(root / f"nb201/zc_proxies_{CSV_NAME[args.dataset]}.csv")
    acc = pd.read_csv(root / "nb201/naslib_val_acc_zen.csv")
    acc = acc[acc["dataset"] == args.dataset.lower()].set_index("arch_str")["val_accuracy"]
    sample = csv.sample(min(args.sample, len(csv)), random_state=args.seed).reset_index(drop=True)
    n_classes = data.NUM_CLASSES[args.dataset]
    batch = None
    info = None
    if any(P.get(p).needs_data for p in names):
        x, y, bi = data.batch(args.dataset, batch_size=args.batch_size, seed=args.seed)
        batch, info = (x, y), bi.as_dict()
    size = 16 if args.dataset == "ImageNet16-120" else 32
    rows, failures = [], {}
    t0 = time.time()
    for i, s in enumerate(sample["net_str"]):
        model = nb201_onnx.build_nb201(s, num_classes=n_classes, input_size=size)
        res = score_cell(model, names, batch, seed=_cell_seed(args.seed, s), input_shape=(3, size, size))
        rows.append({p: res.scores.get(p, np.nan) for p in names})
        for p, why in res.failures.items():
            failures.setdefault(p, []).append(why)
        if (i + 1) % 20 == 0:
            print(f"{i + 1}/{len(sample)} cells, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    wall = time.time() - t0
    ours = pd.DataFrame(rows)
    ceiling = naslib_self_agreement(root, args.dataset)
    target = acc.reindex(sample["net_str"]).to_numpy()
    table = []
    for p in names:
        o = ours[p].to_numpy(float)
        pub = sample[p].to_numpy(float) if p in sample.columns else np.full(len(o), np.nan)
        ok = np.isfinite(o) & np.isfinite(pub)
        okt = np.isfinite(o) & np.isfinite(target)
        okp = np.isfinite(pub) & np.isfinite(target)
        lo_hi = PUBLISHED_RHO.get(p, {}).get(args.dataset)
        table.append({
            "proxy": p, "n": int(ok.sum()),
            "rho_vs_published": round(float(spearmanr(o[ok], pub[ok]).statistic), 3) if ok.sum() > 2 else None,
            "naslib_self_agreement": round(ceiling[p], 3) if p in ceiling else None,
            "rho_acc_ours": round(float(spearmanr(o[okt], target[okt]).statistic), 3) if okt.sum() > 2 else None,
            "rho_acc_published_scores": round(float(spearmanr(pub[okp], target[okp]).statistic), 3) if okp.sum() > 2 else None,
            "benchmarks_md_s3": f"{lo_hi[0]:.3f}–{lo_hi[1]:.3f}" if lo_hi else "",
            "failures": len(failures.get(p, [])),
        })
    load = os.getloadavg()
    cmd = "python benchmarks/zc_published.py " + " ".join(sys.argv[1:])
    md = [f"# Zero-cost proxies vs published NAS-Bench-Suite-Zero scores (NB201, {args.dataset})", "",
          f"- command: `{cmd}`",
          f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, torch threads 1, load average {tuple(round(v, 2) for v in load)}",
          f"- nabench {__version__}; {len(sample)} cells sampled with seed {args.seed} from the 9,445 of "
          f"nb201/zc_proxies_{CSV_NAME[args.dataset]}.csv; wall {wall:.0f} s ({wall / len(sample):.2f} s/cell)",
          f"- batch: {json.dumps(info)}",
          f"- weights: PyTorch default init, seeded per cell (seed {args.seed}, crc32 of the cell string); "
          "zen re-initializes N(0,1) as Zen-NAS does",
          f"- target: NASLib validation accuracy ({args.dataset}, naslib_val_acc_zen.csv); "
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
