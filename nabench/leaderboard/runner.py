"""``nabench run``: train and predict a registered predictor on every split of a task.

The predictions table has one row per (train size, seed, test unit): ``task, train_size, seed,
arch_id, y_pred`` (plus ``native_id`` for tasks split by native id); rows sorted, dtypes fixed,
the task version and predictor name in the Parquet metadata, so the same command twice writes
the same bytes. A predictor whose constructor takes ``random_state`` gets the split's seed.
Predictors that do not fit (``requires_fit=False``: zero-cost proxies, baselines) score every
test unit once and are sliced per split.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from nabench.errors import NabenchError
from nabench.leaderboard.graphs import GraphCache
from nabench.leaderboard.tasks import Task, TaskData, load_task_data, pinned_units

META_KEY = b"nabench"
COLUMNS = ("task", "train_size", "seed", "arch_id", "y_pred")


class RunError(NabenchError):
    """A predictor that cannot be run on a task, or that returned unusable predictions."""


def make_predictor(name: str, seed: int, params: dict | None = None):
    """A fresh instance of a registered predictor with ``params`` set and the split's seed as its
    ``random_state`` (when it has one)."""
    from nabench.registry import predictors

    est = predictors.get(name)()
    known = est.get_params(deep=False)
    unknown = sorted(set(params or {}) - set(known))
    if unknown:
        raise RunError(f"predictor {name} has no parameter(s) {unknown} (parameters: {sorted(known)})")
    est.set_params(**(params or {}))
    if "random_state" in known and "random_state" not in (params or {}):
        est.set_params(random_state=seed)
    return est


def _graphs(cache: GraphCache, frame: pd.DataFrame, check_arch_ids: bool) -> list:
    """ArchGraphs of the units in ``frame`` (columns corpus, native_id), in order."""
    from nabench import corpora

    out: list = [None] * len(frame)
    for corpus_name, rows in frame.reset_index().groupby("corpus", sort=True):
        corpus = corpora.load(corpus_name)
        graphs = cache.get(corpus, list(rows["native_id"]))
        if check_arch_ids:  # the pinned split must describe the graphs the predictor sees
            pinned = pinned_units(corpus.name, corpus.version)
            for native_id, g in zip(rows["native_id"], graphs):
                if g.arch_id != pinned[native_id]:
                    raise RunError(f"corpus {corpus_name}: record {native_id!r} normalizes to arch_id {g.arch_id} but the "
                                   f"task's pinned units say {pinned[native_id]}; the graphs changed since the task was pinned")
        for pos, g in zip(rows.index, graphs):
            out[pos] = g
    return out


def _predict(est, graphs: list, where: str) -> np.ndarray:
    y = np.asarray(est.predict(graphs), dtype=np.float64)
    if y.shape != (len(graphs),):
        raise RunError(f"{where}: predict returned shape {y.shape} for {len(graphs)} architectures")
    if not np.all(np.isfinite(y)):
        raise RunError(f"{where}: predict returned {int((~np.isfinite(y)).sum())} NaN or infinite values")
    return y


def run(predictor: str, task: Task, *, train_sizes: Sequence[int] | None = None, seeds: Sequence[int] | None = None,
        params: dict | None = None, workers: int = 1, progress=None, data: TaskData | None = None) -> pd.DataFrame:
    """The predictions of ``predictor`` on every split of ``task`` (a DataFrame, :data:`COLUMNS`).

    ``workers`` processes normalize missing graphs and, for predictors that fit, train the splits
    in parallel (spawned processes, each loading the task's graphs once; every split is fitted with
    its own seed exactly as in one process, so the predictions do not depend on ``workers``).
    """
    from nabench.corpora.base import Progress
    from nabench.registry import predictors

    predictors.get(predictor)  # unknown names fail before any work
    if workers < 1:
        raise RunError(f"workers must be at least 1, got {workers}")
    data = data or load_task_data(task)
    splits = data.splits(train_sizes, seeds)
    requires_fit = make_predictor(predictor, 0, params).nabench_tags().requires_fit
    label = f"{predictor} on {task.name}"
    track = (progress or Progress()).track
    if requires_fit and workers > 1 and len(splits) > 1:
        ensure_graphs(task, data, workers=workers, progress=progress)  # normalize once, not in every worker
        y_by_split = _fit_in_workers(predictor, task, data, splits, params, workers, track, label)
    else:
        fitter = SplitFitter(predictor, task, data, params, GraphCache(workers=workers, progress=progress))
        y_by_split = [fitter.predict(split) for split in track(splits, label, total=len(splits))]
    parts = []
    for split, y in zip(splits, y_by_split):
        test = data.test_units.iloc[split.test]
        arch_ids = test.index if task.key == "arch_id" else pinned_units(task.corpus, task.corpus_version).loc[test.index]
        part = pd.DataFrame({"task": task.name, "train_size": split.train_size, "seed": split.seed,
                             "arch_id": np.asarray(arch_ids), "y_pred": y})
        if task.key == "native_id":
            part["native_id"] = test.index.to_numpy()
        parts.append(part)
    return canonical(pd.concat(parts, ignore_index=True), task)


def ensure_graphs(task: Task, data: TaskData, *, workers: int = 1, progress=None) -> None:
    """Normalize every record the task's test set and training pool need (a no-op when done)."""
    from nabench import corpora
    from nabench.leaderboard.graphs import ensure_normalized

    units = data.test_units if data.rest else pd.concat([data.test_units, data.train_pool])
    for corpus_name, rows in units.groupby("corpus", sort=True):
        ensure_normalized(corpora.load(corpus_name), list(rows["native_id"]), workers=workers, progress=progress)


class SplitFitter:
    """Fits ``predictor`` on a split's training units and predicts its test units (graphs loaded
    once; predictors that do not fit score the whole test set once and are sliced per split)."""

    def __init__(self, predictor: str, task: Task, data: TaskData, params: dict | None, cache: GraphCache):
        self.predictor, self.task, self.data, self.params, self.cache = predictor, task, data, params, cache
        self.check = task.split_by == "arch_id"
        self.test_graphs = _graphs(cache, data.test_units, self.check)
        self.pool_graphs = self.test_graphs if data.rest else None
        self.requires_fit = make_predictor(predictor, 0, params).nabench_tags().requires_fit
        self.cached_scores = None

    def predict(self, split) -> np.ndarray:
        where = f"{self.predictor} on {self.task.name} (train size {split.train_size}, seed {split.seed})"
        est = make_predictor(self.predictor, split.seed, self.params)
        if not self.requires_fit:
            if self.cached_scores is None:
                self.cached_scores = _predict(est, self.test_graphs, where)
            return self.cached_scores[split.test]
        if self.pool_graphs is None:
            self.pool_graphs = _graphs(self.cache, self.data.train_pool, self.check)
        train = self.data.train_pool.iloc[split.train]
        est.fit([self.pool_graphs[i] for i in split.train], train["y"].to_numpy())
        return _predict(est, [self.test_graphs[i] for i in split.test], where)


#: the SplitFitter of a worker process (set by _start_worker)
_WORKER: SplitFitter | None = None


def _start_worker(predictor: str, task: Task, data: TaskData, params: dict | None) -> None:
    global _WORKER
    _WORKER = SplitFitter(predictor, task, data, params, GraphCache())


def _worker_predict(split) -> np.ndarray:
    return _WORKER.predict(split)


def _fit_in_workers(predictor, task, data, splits, params, workers, track, label) -> list[np.ndarray]:
    """Each split's predictions, fitted in ``workers`` spawned processes (largest training sets first)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    order = sorted(range(len(splits)), key=lambda i: -splits[i].train_size)
    out: list = [None] * len(splits)
    with ProcessPoolExecutor(min(workers, len(splits)), mp_context=multiprocessing.get_context("spawn"),
                             initializer=_start_worker, initargs=(predictor, task, data, params)) as pool:
        futures = {pool.submit(_worker_predict, splits[i]): i for i in order}
        for future in track(as_completed(futures), label, total=len(futures)):
            out[futures[future]] = future.result()
    return out


def canonical(frame: pd.DataFrame, task: Task) -> pd.DataFrame:
    """Fixed column order, dtypes and row order (what makes two runs byte-identical)."""
    cols = list(COLUMNS) + (["native_id"] if task.key == "native_id" else [])
    frame = frame[cols].astype({"task": "str", "train_size": "int64", "seed": "int64", "arch_id": "str", "y_pred": "float64"})
    return frame.sort_values(["train_size", "seed", task.key], kind="stable").reset_index(drop=True)


def write_predictions(frame: pd.DataFrame, path: Path, *, task: Task, predictor: str, params: dict | None = None) -> Path:
    """Write a predictions table as Parquet, atomically, with the task version (and the predictor
    with its non-default ``params``) in its metadata."""
    from nabench.corpora.store import write_atomic

    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = {"task": task.name, "task_version": task.version, "predictor": predictor}
    if params:
        meta["params"] = params
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: json.dumps(meta, sort_keys=True).encode()})
    return write_atomic(Path(path), lambda p: pq.write_table(table, p, compression="zstd"))


def write_run_info(predictions: Path, *, predictor: str, task: Task, wall_time_s: float) -> Path:
    """The sidecar next to a predictions file (wall time, hardware, load) that ``submit`` reads
    for the card's ``wall_time_s``."""
    import os
    import platform

    from nabench import __version__
    from nabench.corpora.store import write_atomic_text
    from nabench.leaderboard.submissions import run_info_path

    return write_atomic_text(run_info_path(predictions), json.dumps({
        "predictor": predictor, "task": task.name, "task_version": task.version, "wall_time_s": round(wall_time_s, 2),
        "hardware": f"{platform.machine()} CPU, {os.cpu_count()} cores", "nabench_version": __version__,
        "load_avg_1m": round(os.getloadavg()[0], 2)}, indent=2) + "\n")


def read_predictions(path: Path) -> tuple[pd.DataFrame, dict]:
    """A predictions file and its nabench metadata (``task``, ``task_version``, ``predictor``)."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as e:
        raise NabenchError(f"{path}: not a readable Parquet file ({e})") from None
    raw = (table.schema.metadata or {}).get(META_KEY)
    try:
        meta = json.loads(raw) if raw else {}
    except ValueError:
        raise NabenchError(f"{path}: unreadable nabench metadata") from None
    return table.to_pandas(), meta
