"""Build + fully check the weightless ONNX graph of every NAS-Bench-201 cell; record the speed.

    python benchmarks/onnx_nb201.py            # all 15,625 cells, one worker per CPU
    python benchmarks/onnx_nb201.py --workers 1 --limit 2000

Per cell: ``build_nb201_bytes`` → ``onnx.shape_inference.infer_shapes(strict_mode=True)`` →
``onnx.checker.check_model(full_check=True)``. A single-process sample first times each part.
Results go to ``benchmarks/results/onnx_nb201.{json,md}`` with the machine and command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from multiprocessing import get_context
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def machine() -> dict:
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}


def _work(cells: list[str]) -> tuple[int, int]:
    import onnx

    from nabench.onnx_build.nb201 import build_nb201_bytes

    total = 0
    for arch in cells:
        blob = build_nb201_bytes(arch)
        total += len(blob)
        onnx.checker.check_model(onnx.shape_inference.infer_shapes(blob, strict_mode=True), full_check=True)
    return len(cells), total


def parts(cells: list[str]) -> dict:
    """Mean milliseconds per cell of each step, single process, cold caches."""
    import onnx

    from nabench.onnx_build import nb201 as NB

    NB._cell_template.cache_clear()
    t0 = time.perf_counter()
    blobs = [NB.build_nb201_bytes(a) for a in cells]
    t1 = time.perf_counter()
    models = [onnx.shape_inference.infer_shapes(b, strict_mode=True) for b in blobs]
    t2 = time.perf_counter()
    for m in models:
        onnx.checker.check_model(m, full_check=True)
    t3 = time.perf_counter()
    n = len(cells)
    return {"build_ms": 1e3 * (t1 - t0) / n, "infer_shapes_ms": 1e3 * (t2 - t1) / n,
            "check_full_ms": 1e3 * (t3 - t2) / n}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    from nabench import __version__
    from nabench.spaces import nb201

    cells = nb201.all_cells()
    if args.limit:
        cells = cells[: args.limit]
    breakdown = parts(cells[::50])
    chunks = [cells[i::args.workers * 8] for i in range(args.workers * 8)]
    t0 = time.perf_counter()
    if args.workers == 1:
        res = [_work(c) for c in chunks]
    else:
        with get_context("fork").Pool(args.workers) as pool:
            res = pool.map(_work, chunks)
    wall = time.perf_counter() - t0
    n = sum(r[0] for r in res)
    size = sum(r[1] for r in res) / n
    out = {"nabench": __version__, "machine": machine(), "command": " ".join(["python"] + sys.argv),
           "cells": n, "workers": args.workers, "total_s": round(wall, 2), "archs_per_s": round(n / wall, 1),
           "mean_bytes": round(size), "per_cell_single_process_ms": {k: round(v, 3) for k, v in breakdown.items()}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "onnx_nb201.json").write_text(json.dumps(out, indent=2) + "\n")
    b = out["per_cell_single_process_ms"]
    (RESULTS / "onnx_nb201.md").write_text(
        "# NB201 weightless ONNX: build + infer_shapes + check_model(full_check=True)\n\n"
        f"- command: `{out['command']}`\n- machine: {out['machine']}\n- nabench {__version__}\n\n"
        "| cells | workers | total s | archs/s | mean size (bytes) |\n|---|---|---|---|---|\n"
        f"| {n} | {args.workers} | {out['total_s']} | {out['archs_per_s']} | {out['mean_bytes']} |\n\n"
        "Per cell, single process (every 50th cell, cold template cache): "
        f"build {b['build_ms']} ms, infer_shapes {b['infer_shapes_ms']} ms, "
        f"check_model(full_check) {b['check_full_ms']} ms.\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
