"""Cost of the 13 NAS-Bench-Suite-Zero proxies on one NB201 cell, batch 64, one CPU thread.

Measures (median over ``--repeats``): building the module (ONNX graph → torch), the whole suite
computed together by the shared-pass engine, and each proxy computed alone. Suite-Zero's own
per-proxy CPU times (from its published JSON, same cells) are shown for comparison.

Usage: python benchmarks/zc_cost.py [--repeats 3] [--threads 1]
Writes benchmarks/results/zc_cost.md and zc_cost.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from nabench import __version__
from nabench.graph import from_onnx
from nabench.onnx_build.nb201 import build_nb201
from nabench.zc import data, proxies as P
from nabench.zc.convert import to_torch

#: A typical cell (median parameter count) and the heaviest kind (all 3x3 convs).
CELLS = {"typical": "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
         "all-3x3": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"}


def suite_zero_seconds(root: Path) -> dict[str, float]:
    js = json.loads((root / "naslib_zc_suite/zc_nasbench201_725archs_13proxies.json").read_text())["cifar10"]
    out = {}
    for p in P.SUITE_ZERO:
        ts = [v[p]["time"] for v in js.values() if isinstance(v.get(p), dict) and "time" in v[p]]
        if ts:
            out[p] = float(np.median(ts))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(os.environ.get("NABENCH_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    os.environ["NABENCH_DATA"] = str(root)
    x, y, info = data.batch("cifar10", batch_size=args.batch_size, seed=0)
    names = list(P.SUITE_ZERO)
    load_before = os.getloadavg()
    results = {}
    for label, cell in CELLS.items():
        model = build_nb201(cell)
        flops = from_onnx(model).flops / 1e6
        build, suite, alone = [], [], {n: [] for n in names}
        for r in range(args.repeats):
            t0 = time.perf_counter()
            module = to_torch(model, seed=r)
            build.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            res = P.compute(module, x, y, names, flops=flops, seed=r)
            suite.append(time.perf_counter() - t0)
            assert not res.failures, res.failures
            for n in names:
                m = to_torch(model, seed=r)
                t0 = time.perf_counter()
                P.compute(m, x, y, [n], flops=flops, seed=r)
                alone[n].append(time.perf_counter() - t0)
            print(f"{label} repeat {r + 1}: suite {suite[-1]:.2f} s", file=sys.stderr, flush=True)
        results[label] = {"build_s": statistics.median(build), "suite_s": statistics.median(suite),
                          "alone_s": {n: statistics.median(v) for n, v in alone.items()}}
    load_after = os.getloadavg()
    sz = suite_zero_seconds(root)
    cmd = "python benchmarks/zc_cost.py " + " ".join(sys.argv[1:])
    md = ["# Zero-cost proxy cost: the 13 Suite-Zero proxies on one NB201 cell", "",
          f"- command: `{cmd}`",
          f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{args.threads} torch thread(s); load average before {tuple(round(v, 2) for v in load_before)}, "
          f"after {tuple(round(v, 2) for v in load_after)}",
          f"- nabench {__version__}; batch {json.dumps(info.as_dict())}; median of {args.repeats} repeats",
          "- target (issue 5): whole suite ≤ 1.5 s per cell on this 2-core CPU", "",
          "| | " + " | ".join(CELLS) + " | Suite-Zero (median s, their hardware) |", "|---|" + "---|" * (len(CELLS) + 1),
          "| build module (ONNX → torch) | " + " | ".join(f"{results[c]['build_s']:.3f}" for c in CELLS) + " | |",
          "| **suite of 13, shared passes** | " + " | ".join(f"**{results[c]['suite_s']:.3f}**" for c in CELLS)
          + f" | {sum(sz.values()):.3f} (sum) |"]
    for n in names:
        md.append(f"| {n} alone | " + " | ".join(f"{results[c]['alone_s'][n]:.3f}" for c in CELLS)
                  + f" | {sz.get(n, float('nan')):.3f} |")
    md += ["", "Sum of the per-proxy times alone: " + ", ".join(
        f"{c} {sum(results[c]['alone_s'].values()):.3f} s" for c in CELLS) + "."]
    out = Path(__file__).parent / "results" / "zc_cost.md"
    out.write_text("\n".join(md) + "\n", encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps({"results": results, "suite_zero_s": sz, "load_before": load_before,
                                                    "load_after": load_after, "command": cmd}, indent=2) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
