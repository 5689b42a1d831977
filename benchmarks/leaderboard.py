"""Leaderboard speed: building from existing predictions, and the built-in run on NB201 CIFAR-10.

    NABENCH_HOME=... python benchmarks/leaderboard.py build               # time `leaderboard build` on leaderboard/
    NABENCH_HOME=... python benchmarks/leaderboard.py run --predictors params flops xgb [--seeds 0 1]

``build`` copies the repository's ``leaderboard/`` to a temporary folder and times a full build
(every submission's predictions scored by the evaluator, results and site written), twice.
``run`` times ``nabench.leaderboard.runner.run`` of each predictor on ``nb201-cifar10`` (all 5
train sizes, the task's 10 seeds unless ``--seeds``), after loading the task's graphs once
(timed separately; it normalizes NB201 first if needed), and scores the predictions. The
1-minute load average before and after each step is recorded: on a shared machine times are
upper bounds. Results: ``benchmarks/results/leaderboard.md`` (the section of the mode run is
replaced, the other kept).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "leaderboard.md"
REPO = Path(__file__).resolve().parents[1]


def header() -> str:
    from nabench import __version__

    return (f"- machine: python {platform.python_version()}, {platform.platform()}, {os.cpu_count()} CPUs\n"
            f"- nabench {__version__}\n")


def load() -> float:
    return round(os.getloadavg()[0], 2)


def bench_build() -> str:
    from nabench.leaderboard.site import build

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "leaderboard"
        shutil.copytree(REPO / "leaderboard" / "submissions", root / "submissions")
        rows = []
        for attempt in ("first (cold task data)", "second"):
            before = load()
            start = time.perf_counter()
            report = build(root)
            rows.append(f"| {attempt} | {report.n_submissions} | {report.n_scores} | {time.perf_counter() - start:.1f} | "
                        f"{before} / {load()} |")
    notes = "".join(f"- note: {n}\n" for n in report.notes)
    return ("## Build from existing predictions (target: <= 30 s)\n\n"
            f"- command: `python benchmarks/leaderboard.py build`\n{header()}{notes}\n"
            "| build | submissions | splits scored | s | load 1m before / after |\n|---|---|---|---|---|\n"
            + "\n".join(rows) + "\n")


def bench_run(predictors: list[str], seeds: list[int] | None) -> str:
    from nabench.leaderboard.graphs import GraphCache
    from nabench.leaderboard.runner import _graphs, run
    from nabench.leaderboard.submissions import score_predictions
    from nabench.leaderboard.tasks import get_task, load_task_data

    task = get_task("nb201-cifar10")
    data = load_task_data(task)
    before = load()
    start = time.perf_counter()
    _graphs(GraphCache(), data.test_units, True)
    _graphs(GraphCache(), data.train_pool, True)
    prep = time.perf_counter() - start
    rows = [f"| (normalize if needed + load {len(data.test_units) + len(data.train_pool)} graphs, once) | – | "
            f"{prep:.1f} | – | – | – | – | – | {before} / {load()} |"]
    total = prep
    n_seeds = len(seeds) if seeds else len(task.seeds)

    def section() -> str:
        return (f"## Built-in run on nb201-cifar10 (5 sizes x {n_seeds} seeds; target: all predictors <= 30 min)\n\n"
                f"- command: `python {' '.join(sys.argv)}`\n{header()}- total wall time so far: {total:.1f} s\n\n"
                "| predictor | splits | s | Kendall tau-b N=78 | 156 | 469 | 781 | 1563 | load 1m before / after |\n"
                "|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")

    write_section(section())
    for name in predictors:
        before = load()
        start = time.perf_counter()
        try:
            frame = run(name, task, seeds=seeds)
        except Exception as e:  # a predictor that fails is recorded, not hidden
            rows.append(f"| {name} | failed: {type(e).__name__}: {str(e)[:120]} | | | | | | | |")
            write_section(section())
            continue
        wall = time.perf_counter() - start
        total += wall
        scores = score_predictions(frame, task, data, name).groupby("train_size")["kendall_tau_b"]
        m, s = scores.mean(), scores.std(ddof=1)
        cells = " | ".join(f"{m[n]:.3f} ± {s[n]:.3f}" for n in task.train_sizes)
        rows.append(f"| {name} | {frame.groupby(['train_size', 'seed']).ngroups} | {wall:.1f} | {cells} | {before} / {load()} |")
        write_section(section())  # after each predictor, so a long run leaves what it measured
    return section()


def write_section(section: str) -> None:
    title = section.splitlines()[0]
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Leaderboard speed\n\n"
    key = title.split("(")[0].strip()
    parts = re.split(r"(?m)^(?=## )", text)
    kept = [p for p in parts if not p.startswith(key)]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("".join(kept).rstrip() + "\n\n" + section, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    sub.add_parser("build")
    r = sub.add_parser("run")
    r.add_argument("--predictors", nargs="+", help="default: every registered predictor")
    r.add_argument("--seeds", nargs="+", type=int)
    args = ap.parse_args()
    if args.mode == "build":
        write_section(bench_build())
    else:
        from nabench.registry import predictors

        write_section(bench_run(args.predictors or predictors.names(), args.seeds))
    print(RESULTS)


if __name__ == "__main__":
    main()
