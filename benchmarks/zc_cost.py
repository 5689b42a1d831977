"""Cost of the 13 NAS-Bench-Suite-Zero proxies on one NB201 cell, batch 64, on CPU (or a GPU).

Measures (median over ``--repeats``), for each torch thread count of ``--threads``: building the
module (ONNX graph → torch), the whole suite computed together by the shared-pass engine (wall
and process CPU seconds), and each proxy computed alone on a fresh module. Suite-Zero's own
per-proxy times (from its published JSON, same kind of cells, their hardware) are shown for
comparison, and the convolution work the suite cannot avoid: the 13 proxies need 12 batch-64
passes' worth of conv/linear multiply-accumulates (forward 1, loss gradient 2, grasp's
Hessian-gradient product 6, input Jacobian 1, zen's two forwards 2).

Usage: python benchmarks/zc_cost.py [--repeats 3] [--threads 1,2] [--device cuda]
Writes benchmarks/results/zc_cost.md and zc_cost.json (``--device cuda``: zc_cost_cuda.*). Use 2
threads only on an otherwise idle machine: on an oversubscribed one OpenMP's barriers make them
many times slower than 1. On a GPU the module is built on the CPU and moved (``build`` includes
the move); one untimed suite warms the device up first, and every time ends with the scores
read back to the host (``P.compute`` returns Python floats), so no GPU work is left in flight.
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
#: Batch-64 forward-pass equivalents of conv/linear work in the 13-proxy suite (see the docstring).
PASSES = 12


def suite_zero_seconds(root: Path) -> dict[str, float]:
    js = json.loads((root / "naslib_zc_suite/zc_nasbench201_725archs_13proxies.json").read_text())["cifar10"]
    out = {}
    for p in P.SUITE_ZERO:
        ts = [v[p]["time"] for v in js.values() if isinstance(v.get(p), dict) and "time" in v[p]]
        if ts:
            out[p] = float(np.median(ts))
    return out


def measure(cell: str, x, y, names: list[str], repeats: int, device: str = "cpu") -> dict:
    model = build_nb201(cell)
    graph = from_onnx(model)
    flops = graph.flops / 1e6
    x, y = x.to(device), y.to(device)
    if device != "cpu":  # warm-up: CUDA context, cuDNN handles and kernel choices stay out of the times
        P.compute(to_torch(model, seed=0).to(device), x, y, names, flops=flops, seed=0)
    build, suite, suite_cpu, alone = [], [], [], {n: [] for n in names}
    for r in range(repeats):
        t0 = time.perf_counter()
        module = to_torch(model, seed=r).to(device)
        build.append(time.perf_counter() - t0)
        t0, c0 = time.perf_counter(), time.process_time()
        res = P.compute(module, x, y, names, flops=flops, seed=r)
        suite.append(time.perf_counter() - t0)
        suite_cpu.append(time.process_time() - c0)
        assert not res.failures, res.failures
        for n in names:
            m = to_torch(model, seed=r).to(device)
            t0 = time.perf_counter()
            P.compute(m, x, y, [n], flops=flops, seed=r)
            alone[n].append(time.perf_counter() - t0)
    macs = sum(n.flops for n in graph.nodes if n.op_type in ("Conv", "Gemm", "MatMul"))
    return {"build_s": statistics.median(build), "suite_s": statistics.median(suite),
            "suite_cpu_s": statistics.median(suite_cpu), "alone_s": {n: statistics.median(v) for n, v in alone.items()},
            "conv_gmac": PASSES * macs * x.shape[0] / 1e9}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", default="1,2", help="comma-separated torch thread counts")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="cpu", help="cpu, or a GPU (cuda, cuda:N)")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    root = Path(os.environ.get("NABENCH_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    os.environ["NABENCH_DATA"] = str(root)
    x, y, info = data.batch("cifar10", batch_size=args.batch_size, seed=0)
    names = list(P.SUITE_ZERO)
    load_before = os.getloadavg()
    results: dict[str, dict] = {}
    for t in threads:
        torch.set_num_threads(t)
        for label, cell in CELLS.items():
            key = f"{label}, {t} thread{'s' if t > 1 else ''}"
            results[key] = measure(cell, x, y, names, args.repeats, args.device)
            print(f"{key}: suite {results[key]['suite_s']:.2f} s", file=sys.stderr, flush=True)
    load_after = os.getloadavg()
    sz = suite_zero_seconds(root)
    cols = list(results)
    cmd = "python benchmarks/zc_cost.py " + " ".join(sys.argv[1:])
    gpu = args.device != "cpu"
    md = ["# Zero-cost proxy cost: the 13 Suite-Zero proxies on one NB201 cell" + (" on a GPU" if gpu else ""), "",
          f"- command: `{cmd}`",
          f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__}"
          + (f", GPU {torch.cuda.get_device_name(args.device)}" if gpu else "") + "; "
          f"load average before {tuple(round(v, 2) for v in load_before)}, after {tuple(round(v, 2) for v in load_after)}",
          f"- nabench {__version__}; batch {json.dumps(info.as_dict())}; median of {args.repeats} repeats",
          "- target (issue 5): " + ("whole suite ≤ 50 ms per cell on a lent GPU" if gpu
                                    else "whole suite ≤ 1.5 s per cell on this 2-core CPU"), "",
          "| | " + " | ".join(cols) + " | Suite-Zero (median s, their hardware) |", "|---|" + "---|" * (len(cols) + 1),
          "| build module (ONNX → torch) | " + " | ".join(f"{results[c]['build_s']:.3f}" for c in cols) + " | |",
          "| **suite of 13, shared passes (wall s)** | " + " | ".join(f"**{results[c]['suite_s']:.3f}**" for c in cols)
          + f" | {sum(sz.values()):.3f} (sum) |",
          "| suite of 13, process CPU s | " + " | ".join(f"{results[c]['suite_cpu_s']:.3f}" for c in cols) + " | |",
          "| suite's unavoidable conv/linear work (GMAC) | " + " | ".join(f"{results[c]['conv_gmac']:.0f}" for c in cols)
          + " | |"]
    for n in names:
        md.append(f"| {n} alone | " + " | ".join(f"{results[c]['alone_s'][n]:.3f}" for c in cols)
                  + f" | {sz.get(n, float('nan')):.3f} |")
    md += ["", "Sum of the per-proxy times alone: " + ", ".join(
        f"{c} {sum(results[c]['alone_s'].values()):.3f} s" for c in cols) + ".",
           "", "Wall times include waiting for the CPU: compare them only at a similar load average."]
    out = Path(__file__).parent / "results" / ("zc_cost_cuda.md" if gpu else "zc_cost.md")
    out.write_text("\n".join(md) + "\n", encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps({"results": results, "suite_zero_s": sz, "load_before": load_before,
                                                    "load_after": load_after, "command": cmd}, indent=2) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
