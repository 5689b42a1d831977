"""The ±0.03 check of issue 5: each proxy's Spearman with NB201 accuracy against BENCHMARKS.md §3.

Reads the results of ``benchmarks/zc_published.py`` (``results/zc_published_<dataset>_<n>.json``,
3,000-cell samples) and writes ``results/zc_published_s3.md``: per proxy and dataset, our
Spearman with the 200-epoch test accuracy ("final accuracy", as §3 says) and with NASLib's
validation accuracy (the Suite-Zero target), the same for the published Suite-Zero scores of
the same cells, the §3 range, and the gap to it (0 inside the range). A proxy passes when our
gap is within ±0.03 for one of the two accuracies. Where it is not, the row says whether the
published Suite-Zero scores miss §3 by the same amount (then the §3 value does not come from
these scores, and no implementation that reproduces them can meet it).

    python benchmarks/zc_published_s3.py [--sample 3000]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from zc_published import PUBLISHED_RHO

RESULTS = Path(__file__).parent / "results"
TOLERANCE = 0.03
TARGETS = (("final", "final acc"), ("acc", "NASLib val acc"))


def gap(value: float | None, low: float, high: float) -> float | None:
    """Signed distance of ``value`` to ``[low, high]`` (0 inside)."""
    if value is None:
        return None
    return round(value - high, 3) if value > high else round(value - low, 3) if value < low else 0.0


def verdict(row: dict, low: float, high: float) -> tuple[str, dict]:
    gaps = {t: (gap(row[f"rho_{t}_ours"], low, high), gap(row[f"rho_{t}_published_scores"], low, high))
            for t, _ in TARGETS}
    for t, label in TARGETS:
        if gaps[t][0] is not None and abs(gaps[t][0]) <= TOLERANCE:
            return f"within ±{TOLERANCE} ({label})", gaps
    ours, published = gaps["final"]
    if published is not None and abs(ours - published) <= TOLERANCE:
        return f"outside; the published scores miss by {published:+.3f} too", gaps
    return "outside", gaps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=int, default=3000)
    args = ap.parse_args()
    lines = ["# Zero-cost proxies vs BENCHMARKS.md §3 (Spearman with NB201 accuracy, ±0.03)", "",
             "- command: `python benchmarks/zc_published_s3.py" + (f" --sample {args.sample}`" if args.sample != 3000 else "`"),
             "- inputs: " + ", ".join(f"`results/zc_published_{d}_{args.sample}.json`" for d in ("cifar10", "cifar100")),
             "  (their commands, batches and seeds are in the matching `.md` files)",
             "- gap: signed distance to the §3 range (0 inside); ours / published Suite-Zero scores of the same cells",
             "",
             "| dataset | proxy | §3 | ours: final acc / val acc | published scores: final acc / val acc | gap final acc (ours / published) | gap val acc (ours / published) | check |",
             "|---|---|---|---|---|---|---|---|"]
    for dataset in ("cifar10", "cifar100"):
        path = RESULTS / f"zc_published_{dataset}_{args.sample}.json"
        rows = {r["proxy"]: r for r in json.loads(path.read_text(encoding="utf-8"))["rows"]}
        for proxy, ranges in PUBLISHED_RHO.items():
            if proxy not in rows or dataset not in ranges:
                continue
            low, high = ranges[dataset]
            r = rows[proxy]
            check, gaps = verdict(r, low, high)
            lines.append(
                f"| {dataset} | {proxy} | {low:.3f}–{high:.3f} | {r['rho_final_ours']} / {r['rho_acc_ours']} | "
                f"{r['rho_final_published_scores']} / {r['rho_acc_published_scores']} | "
                f"{gaps['final'][0]:+.3f} / {gaps['final'][1]:+.3f} | {gaps['acc'][0]:+.3f} / {gaps['acc'][1]:+.3f} | {check} |")
    out = RESULTS / "zc_published_s3.md"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
