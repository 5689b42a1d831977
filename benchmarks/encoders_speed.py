"""Speed of the tabular encoder per search space and of the tree models on encoded features.

    python benchmarks/encoders_speed.py                   # everything (needs ../shared/data)
    python benchmarks/encoders_speed.py --per-space 100   # fewer graphs per non-NB201 space

1. ``TabularEncoder().fit_transform(graphs)`` (all feature groups, no feature cache) on graphs
   already in memory: ``--per-space`` random records of every corpus whose search space has an ONNX
   builder (graphs made by ``normalize_record``, not timed), and all 15,625 NB201 cells from
   ``Corpus.arch_graphs()`` (target: ≤ 8 s, i.e. ≤ 0.5 ms a graph). First run (cold per-node memo)
   and best of the next two.
2. XGBoost, LightGBM and random forest (``xgb``, ``lgbm``, ``rf`` with their default parameters,
   ``n_jobs=1``) trained on ``--train`` random NB201 cells (CIFAR-10 test accuracy, 200 epochs),
   queried on ``--rows`` cells: ``predict_features`` on the encoded matrix (target: ≥ 100,000
   architectures/s), and ``predict(graphs)`` with the graphs' features already in the feature
   cache (encoder assembly + model).

Wall-clock and CPU (``time.process_time``) seconds of this single-threaded process; on a shared
machine the CPU column is the steadier one. Needs the corpora built and NB201 normalized in
``$NABENCH_HOME`` (done first if missing, not timed). Writes ``benchmarks/results/encoders_speed.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
SPACES = ("nb101", "nb301", "transnas-micro", "transnas-macro", "nasbench-graph", "help-fbnet", "help-ofa",
          "nasbench-nlp", "ec-nas")
LABEL = "cifar10__test_acc__200ep"


def machine() -> str:
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}, "
            f"Python {platform.python_version()}")


def load_avg() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def timed(fn) -> tuple[float, float]:
    """(wall, CPU) seconds of one call."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def best_of(fn, n: int) -> tuple[float, float]:
    runs = [timed(fn) for _ in range(n)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def nb201_graphs(workers: int) -> list:
    from nabench import corpora
    from nabench.leaderboard.graphs import ensure_normalized

    corpus = corpora.load("nb201") if corpora.is_built("nb201") else corpora.build("nb201")
    ensure_normalized(corpus, list(corpus.records()["native_id"]), workers=workers)
    return corpus.arch_graphs()


def space_graphs(name: str, n: int) -> list:
    """ArchGraphs of ``n`` random records of corpus ``name`` (built first if needed)."""
    from nabench import corpora
    from nabench.graph import codec
    from nabench.normalize import ARCHGRAPH, normalize_record

    corpus = corpora.load(name) if corpora.is_built(name) else corpora.build(name)
    records = corpus.records()
    rows = records.sample(min(n, len(records)), random_state=0).to_dict("records")
    return [codec.loads(normalize_record(r, name)[ARCHGRAPH]) for r in rows]


def encoder_row(space: str, graphs: list) -> dict:
    from nabench.encoders.tabular import TabularEncoder

    first = timed(lambda: TabularEncoder().fit_transform(graphs))
    wall, cpu = best_of(lambda: TabularEncoder().fit_transform(graphs), 2)
    n = len(graphs)
    return {"space": space, "graphs": n, "nodes/graph": round(sum(len(g.nodes) for g in graphs) / n, 1),
            "first run s": round(first[0], 2), "best s": round(wall, 2), "best CPU s": round(cpu, 2),
            "ms/graph": round(wall / n * 1e3, 3), "CPU ms/graph": round(cpu / n * 1e3, 3),
            "graphs/s": f"{n / wall:,.0f}"}


def gbdt_rows(graphs: list, n_train: int, n_rows: int) -> list[dict]:
    import numpy as np

    from nabench import corpora
    from nabench.encoders.tabular import feature_cache
    from nabench.registry import predictors

    labels = corpora.load("nb201").labels(LABEL)
    order = np.random.default_rng(0).permutation(len(graphs))
    train = [graphs[i] for i in order[:n_train]]
    query = [graphs[i] for i in order[:n_rows]]
    y = labels.reindex([g.metadata["native_id"] for g in train]).to_numpy(dtype=np.float64)
    return [gbdt_row(predictors.get(name)(), train, y, query, feature_cache) for name in ("xgb", "lgbm", "rf")]


def gbdt_row(model, train: list, y, query: list, feature_cache) -> dict:
    fit_s = timed(lambda: model.fit(train, y))[0]
    X = model.encoder_.transform(query)
    wall, cpu = best_of(lambda: model.predict_features(X), 3)
    with feature_cache():
        model.predict(query)  # fills the cache
        c_wall, c_cpu = best_of(lambda: model.predict(query), 3)
    n = len(query)
    return {"model": model.registry_name, "trees": model.n_estimators, "fit s": round(fit_s, 2), "rows": n,
            "features": X.shape[1], "predict_features archs/s": f"{n / wall:,.0f}", "(CPU)": f"{n / cpu:,.0f}",
            "predict(graphs), cached features archs/s": f"{n / c_wall:,.0f}", "(CPU) ": f"{n / c_cpu:,.0f}"}


def table(rows: list[dict]) -> list[str]:
    keys = list(rows[0])
    return ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys),
            *("| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows)]


def main() -> None:
    from nabench import __version__
    from nabench.corpora.store import write_atomic_text

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-space", type=int, default=200, help="Graphs per non-NB201 space (default 200).")
    ap.add_argument("--train", type=int, default=1563, help="NB201 training cells of the tree models.")
    ap.add_argument("--rows", type=int, default=15000, help="NB201 cells the tree models are queried on.")
    ap.add_argument("--workers", type=int, default=2, help="Workers for normalizing NB201 if needed (not timed).")
    args = ap.parse_args()
    start_load = load_avg()
    graphs = nb201_graphs(args.workers)
    enc = [encoder_row("nb201 (all cells)", graphs)]
    for name in SPACES:
        try:
            enc.append(encoder_row(name, space_graphs(name, args.per_space)))
        except Exception as e:  # noqa: BLE001 -- a space without its data is reported, not fatal
            print(f"{name}: skipped ({type(e).__name__}: {e})", file=sys.stderr)
    gbdt = gbdt_rows(graphs, args.train, args.rows)
    lines = [
        "# Tabular encoder and tree-model query speed", "",
        f"- command: `python benchmarks/encoders_speed.py {' '.join(sys.argv[1:])}`".rstrip(),
        f"- machine: {machine()}", f"- nabench {__version__}, one process, one thread",
        f"- load average (1, 5, 15 min) at start: {start_load}; at end: {load_avg()}", "",
        "## TabularEncoder().fit_transform(graphs), all feature groups, no feature cache", "",
        ("Target: all 15,625 NB201 cells in ≤ 8 s (≤ 0.5 ms a graph). `first run`: the per-node memo starts "
         "empty; `best`: best of the next two runs."), "", *table(enc), "",
        "## Tree models on NB201 (default parameters, n_jobs=1)", "",
        (f"Trained on {args.train} random cells; queried on {args.rows} cells. Target: ≥ 100,000 architectures/s "
         "on encoded features (`predict_features`). `predict(graphs)` with cached features adds the encoder's "
         "assembly of the feature matrix."), "", *table(gbdt), ""]
    out = RESULTS / "encoders_speed.md"
    write_atomic_text(out, "\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
