"""Memory of `nabench zc compute` over many cells: driver + worker RSS sampled while it streams.

Runs :func:`nabench.zc.compute.compute_corpus` on the first ``--cells`` NB201 records (a fresh
run folder) in a thread of this process and samples the resident memory of this process and of
its worker processes every ``--every`` seconds from /proc. "Flat" means the RSS after the first
quarter of the run does not keep growing with the number of cells done.

Usage: python benchmarks/zc_scale.py --cells 2000 --workers 2 --proxies params,l2_norm,synflow
Writes benchmarks/results/zc_scale.md and zc_scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

from nabench import __version__, corpora
from nabench.zc import compute as C


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--proxies", default="params,l2_norm,synflow")
    ap.add_argument("--shard-size", type=int, default=50)
    ap.add_argument("--every", type=float, default=2.0)
    args = ap.parse_args()
    if not corpora.is_built("nb201"):
        corpora.build("nb201")
    samples = []
    progress = {"done": 0, "total": 0}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        err: list[BaseException] = []

        def work():
            try:
                C.compute_corpus("nb201", args.proxies.split(","), out=out, limit=args.cells, workers=args.workers,
                                 shard_size=args.shard_size,
                                 progress=lambda d, n: progress.update(done=d, total=n))
            except BaseException as e:  # noqa: BLE001 -- reported below
                err.append(e)

        t0 = time.time()
        th = threading.Thread(target=work)
        th.start()
        me = os.getpid()
        while th.is_alive():
            kids = children(me)
            samples.append({"t": round(time.time() - t0, 1), "shards_done": progress["done"],
                            "driver_mb": round(rss_mb(me), 1), "workers_mb": [round(rss_mb(k), 1) for k in kids]})
            th.join(args.every)
        wall = time.time() - t0
        if err:
            raise err[0]
        rows = len(C.read_scores(out))
    load = os.getloadavg()
    q = [s for s in samples if s["shards_done"] >= progress["total"] / 4]
    drv = [s["driver_mb"] for s in q] or [0]
    wrk = [max(s["workers_mb"] or [0]) for s in q] or [0]
    cmd = "python benchmarks/zc_scale.py " + " ".join(sys.argv[1:])
    md = ["# `nabench zc compute` memory over a long run (NB201)", "",
          f"- command: `{cmd}`",
          f"- machine: {platform.platform()}, {os.cpu_count()} CPUs; load average at the end {tuple(round(v, 2) for v in load)}",
          f"- nabench {__version__}; {rows} rows written in {wall:.0f} s ({rows / wall:.1f} cells/s), "
          f"{args.workers} workers, shards of {args.shard_size}, proxies {args.proxies}", "",
          "| | min MB | max MB |", "|---|---|---|",
          f"| driver RSS (after the first quarter) | {min(drv):.0f} | {max(drv):.0f} |",
          f"| largest worker RSS (after the first quarter) | {min(wrk):.0f} | {max(wrk):.0f} |", "",
          "Samples (every ~10th): t s, shards done, driver MB, worker MB:", ""]
    md += [f"- {s['t']}, {s['shards_done']}, {s['driver_mb']}, {s['workers_mb']}" for s in samples[::10]]
    res = Path(__file__).parent / "results" / "zc_scale.md"
    res.write_text("\n".join(md) + "\n", encoding="utf-8")
    res.with_suffix(".json").write_text(json.dumps({"samples": samples, "rows": rows, "wall_s": wall, "load": load,
                                                    "command": cmd}, indent=2) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
