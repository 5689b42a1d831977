"""Leaderboard speed: building from existing predictions, and the built-in runs that fill it.

    NABENCH_HOME=... python benchmarks/leaderboard.py build               # time `leaderboard build` on leaderboard/
    NABENCH_HOME=... python benchmarks/leaderboard.py run --predictors params flops xgb [--seeds 0 1]
    NABENCH_HOME=... python benchmarks/leaderboard.py run --tasks nb201-cifar10 analognas-analog \\
        --proxies synflow snip --submit                                  # every built-in + proxies, submitted
    NABENCH_HOME=... python benchmarks/leaderboard.py run --predictors 'gnn-gat=gnn:{"conv": "gat"}' --submit
                                                                         # a parameterized variant as submission gnn-gat

``build`` copies the repository's ``leaderboard/`` to a temporary folder and times a full build
(every submission's predictions scored by the evaluator, results and site written), twice.
``run`` times ``nabench.leaderboard.runner.run`` of each predictor, fitting the splits in ``--workers``
processes (default: one per CPU), for each predictor (default: every registered one but ``zc``;
``--proxies`` adds the ``zc`` predictor once per proxy; with ``--zc-runs`` it reads the scores of
``nabench zc compute CORPUS --task TASK`` runs from the corpus store, and the time recorded adds
that run's compute seconds for the task's cells) on each task (default
``nb201-cifar10``: all train sizes, the task's 10 seeds unless ``--seeds``), after loading the
task's graphs once (timed separately; it normalizes the corpus first if needed), and scores the
predictions. ``--submit`` then writes ``leaderboard/submissions/<key>/`` for each entry (key =
predictor name, or ``zc-<proxy>``), keeping its predictions for tasks not run now. The 1-minute
load average before and after each step is recorded: on a shared machine times are upper
bounds. Results: ``benchmarks/results/leaderboard.md``, or ``--results``, where the section of each
task run is replaced and the others are kept.
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


#: not run by default: ``mean`` predicts one constant, whose rank correlations are undefined (the
#: evaluator refuses it); ``zc`` runs once per ``--proxies`` entry
UNRANKED = ("mean", "zc")


def predictor_entry(spec: str) -> tuple[str, str, dict]:
    """``NAME`` → (NAME, NAME, {}); ``KEY=NAME:JSON`` → a submission ``KEY`` of predictor ``NAME``
    with the parameters of the JSON object (e.g. ``gnn-gat=gnn:{"conv": "gat"}``)."""
    from nabench.leaderboard.submissions import check_key
    from predictors_nb201 import parse_predictor

    key, eq, rest = spec.partition("=")
    if not eq:
        return spec, spec, {}
    name, kwargs, _ = parse_predictor(rest)
    check_key(key)  # before a long run, not after it
    return key, name, kwargs


def entries(predictors: list[str], proxies: list[str], zc_runs: bool = False) -> list[tuple[str, str, dict]]:
    """(submission key, registered predictor, params): each of ``predictors`` by
    :func:`predictor_entry`, each proxy as the ``zc`` predictor with ``proxy=NAME`` and
    ``on_failure="lowest"`` (an architecture the proxy fails on is ranked last, as
    NAS-Bench-Suite-Zero publishes it), and ``reuse_runs=True`` with ``zc_runs``."""
    extra = {"reuse_runs": True} if zc_runs else {}
    return [predictor_entry(p) for p in predictors] + [
        (f"zc-{p}", "zc", {"proxy": p, "on_failure": "lowest", **extra}) for p in proxies]


def stored_compute_seconds(data, params: dict) -> float:
    """Σ per-cell compute seconds, over the task's test cells, of the stored ``nabench zc compute``
    run that the ``zc`` predictor with ``params`` reads (every proxy of that run computed together
    with shared passes, one cell at a time per process)."""
    from nabench.predictors.zc import ZeroCostPredictor, stored_runs

    zc = ZeroCostPredictor(**params)
    names = zc._names()
    seconds: dict[str, float] = {}
    for corpus, ids in data.test_units.groupby("corpus")["native_id"]:
        wanted = set(ids.astype(str))
        for table in stored_runs(corpus, names, zc.dataset, zc.batch_size, zc.seed):
            for nid, sec in zip(table["native_id"].astype(str), table["seconds"]):
                if nid in wanted:
                    seconds.setdefault(f"{corpus}/{nid}", float(sec))
    return sum(seconds.values())


def bench_run(task_name: str, runs: list[tuple[str, str, dict]], seeds: list[int] | None, out_dir: Path | None,
              workers: int = 1, results: Path = RESULTS) -> str:
    """Time every entry of ``runs`` on ``task_name``; with ``out_dir``, also write each entry's
    predictions (and run sidecar) to ``out_dir/<key>/<task>.parquet``."""
    from nabench.leaderboard.graphs import GraphCache
    from nabench.leaderboard.runner import _graphs, run, write_predictions, write_run_info
    from nabench.leaderboard.submissions import score_predictions
    from nabench.leaderboard.tasks import get_task, load_task_data

    task = get_task(task_name)
    data = load_task_data(task)
    before = load()
    start = time.perf_counter()
    _graphs(GraphCache(), data.test_units, True)
    if data.rest:
        _graphs(GraphCache(), data.train_pool, True)
    prep = time.perf_counter() - start
    n_graphs = len(data.test_units) + (len(data.train_pool) if data.rest else 0)
    sizes = task.train_sizes
    blank = " | ".join("–" for _ in sizes)
    rows = [f"| (normalize if needed + load {n_graphs} graphs, once) | – | {prep:.1f} | {blank} | {before} / {load()} |"]
    total = prep
    counted_runs: set[tuple] = set()  # stored zc runs (dataset, batch size, seed) whose compute is in ``total``
    n_seeds = len(seeds) if seeds else len(task.seeds)

    reuse_note = ("- zc entries read the scores stored by `nabench zc compute`: their s is the reading time plus "
                  "the Σ per-cell seconds of that run on this task's cells (all its proxies computed together, "
                  "so each proxy shows the whole suite's cost)\n" if any(p.get("reuse_runs") for _, _, p in runs) else "")

    def section() -> str:
        return (f"## Built-in run on {task.name} ({len(sizes)} sizes x {n_seeds} seeds"
                f"{'; target: all predictors <= 30 min' if task.name == 'nb201-cifar10' else ''})\n\n"
                f"- command: `python {' '.join(sys.argv)}`\n{header()}- total wall time: {total:.1f} s "
                f"({total / 60:.1f} min)\n{reuse_note}\n"
                f"| predictor | splits | s | Kendall tau-b N={' | '.join(map(str, sizes))} | load 1m before / after |\n"
                f"|{'---|' * (len(sizes) + 4)}\n" + "\n".join(rows) + "\n")

    write_section(section(), results)
    for key, name, params in runs:
        before = load()
        start = time.perf_counter()
        try:
            frame = run(name, task, seeds=seeds, params=params, workers=workers)
            wall = time.perf_counter() - start
            compute = stored_compute_seconds(data, params) if params.get("reuse_runs") else 0.0
            scores = score_predictions(frame, task, data, key).groupby("train_size")["kendall_tau_b"]
        except Exception as e:  # a predictor that fails is recorded, not hidden
            rows.append(f"| {key} | failed: {type(e).__name__}: {str(e)[:120]} |{' |' * (len(sizes) + 2)}")
            write_section(section(), results)
            continue
        run_key = tuple(params.get(k) for k in ("dataset", "batch_size", "seed"))
        total += wall + (compute if run_key not in counted_runs else 0.0)  # a shared zc run counts once
        if compute:
            counted_runs.add(run_key)
        wall += compute
        if out_dir is not None:
            file = out_dir / key / f"{task.name}.parquet"
            file.parent.mkdir(parents=True, exist_ok=True)
            write_predictions(frame, file, task=task, predictor=name, params=params)
            write_run_info(file, predictor=name, task=task, wall_time_s=wall)
        m, s = scores.mean(), scores.std(ddof=1)
        cells = " | ".join(f"{m[n]:.3f} ± {s[n]:.3f}" for n in sizes)
        rows.append(f"| {key} | {frame.groupby(['train_size', 'seed']).ngroups} | {wall:.1f} | {cells} | {before} / {load()} |")
        write_section(section(), results)  # after each predictor, so a long run leaves what it measured
    return section()


def submit_all(out_dir: Path, runs: list[tuple[str, str, dict]]) -> list[Path]:
    """Replace ``leaderboard/submissions/<key>`` with the new predictions of each entry, keeping the
    predictions it already had for tasks not run now."""
    from nabench.leaderboard.submissions import PREDICTIONS, submit

    root = REPO / "leaderboard"
    written = []
    for key, name, params in runs:
        new = {f.stem: f for f in sorted((out_dir / key).glob("*.parquet"))}
        if not new:
            continue
        old = {f.stem: f for f in sorted((root / "submissions" / key / PREDICTIONS).glob("*.parquet"))}
        files = [new.get(t) or old[t] for t in sorted(set(old) | set(new))]
        written.append(submit(key, files, root=root, predictor=name, replace=True))
    return written


def write_section(section: str, results: Path = RESULTS) -> None:
    """Replace the section of ``results`` with the same title (up to its parenthesis) by ``section``."""
    from nabench.corpora.store import write_atomic_text

    title = section.splitlines()[0]
    text = results.read_text(encoding="utf-8") if results.exists() else "# Leaderboard speed\n\n"
    key = title.split("(")[0].strip()
    parts = re.split(r"(?m)^(?=## )", text)
    kept = [p for p in parts if not p.startswith(key)]
    write_atomic_text(results, "".join(kept).rstrip() + "\n\n" + section)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    sub.add_parser("build")
    r = sub.add_parser("run")
    r.add_argument("--tasks", nargs="+", default=["nb201-cifar10"])
    r.add_argument("--predictors", nargs="*",
                   help='NAME, or KEY=NAME:JSON for a submission KEY with parameters (e.g. '
                        '\'gnn-gat=gnn:{"conv": "gat"}\'); default: every registered predictor except zc')
    r.add_argument("--proxies", nargs="*", default=[], help="zero-cost proxies, run as the zc predictor")
    r.add_argument("--zc-runs", action="store_true",
                   help="proxies read the scores of `nabench zc compute` runs in the corpus store (reuse_runs=true)")
    r.add_argument("--seeds", nargs="+", type=int)
    r.add_argument("--submit", action="store_true", help="write leaderboard/submissions/<key> for every entry run")
    r.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes fitting the splits (nabench run -j; default: one per CPU)")
    r.add_argument("--results", type=Path, default=RESULTS,
                   help="results file whose task sections this run replaces (default: %(default)s)")
    args = ap.parse_args()
    if args.mode == "run" and args.submit and args.seeds:
        ap.error("--submit needs every seed of the task; drop --seeds")
    if args.mode == "build":
        write_section(bench_build())
    else:
        from nabench.registry import predictors

        names = args.predictors if args.predictors is not None else [p for p in predictors.names() if p not in UNRANKED]
        runs = entries(names, args.proxies, args.zc_runs)
        with tempfile.TemporaryDirectory() as tmp:
            out_dir = Path(tmp) if args.submit else None
            for task in args.tasks:
                write_section(bench_run(task, runs, args.seeds, out_dir, args.workers, args.results), args.results)
            if out_dir is not None:
                for path in submit_all(out_dir, runs):
                    print(path)
    print(args.results if args.mode == "run" else RESULTS)


if __name__ == "__main__":
    main()
