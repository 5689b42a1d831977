"""Zero-cost proxies over a whole corpus: streamed, sharded, resumable, local or on Ray.

A run is a folder (default ``<corpus store>/zc/<dataset>-b<batch>-s<seed>``) holding
``run.json`` (proxies, corpus version, the batch's :class:`~nabench.zc.data.BatchInfo`, nabench
version) and ``shard-00000.parquet`` ... , one per ``shard_size`` records in corpus order. A
shard is computed by one worker and written by the driver atomically (temporary file, fsync,
rename), so a killed run leaves only whole shards; running the same command again skips them
(no row is recomputed twice or duplicated; the shards in flight when it was killed are redone).
The driver holds the record table and at most ``2 × workers`` shard results at a time, so its
memory does not grow with the corpus; workers are recycled every ``MAX_TASKS_PER_CHILD`` shards.

Each cell's module is built from its ONNX graph (the space builder when it has one, otherwise
the stored normalized graph) with weights seeded by ``seed`` and the record's native id, and
initialized as the space's reference implementation does (``init`` in ``run.json`` when not
PyTorch's defaults, see :data:`~nabench.zc.convert.SPACE_INIT`); every cell sees the same
batch. Rows: ``native_id``, one column per proxy (NaN when it failed), ``<proxy>__error`` (the
reason, else empty) and ``seconds``.
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import pandas as pd

from nabench.corpora.store import write_atomic
from nabench.errors import NabenchError
from nabench.zc import proxies as P

RUN_FILE = "run.json"
MAX_TASKS_PER_CHILD = 25
#: A cell whose module would have more parameters than this is recorded as too large.
MAX_PARAMS = 200_000_000

_STATE: dict[str, Any] = {}


def run_dir(corpus, dataset: str, batch_size: int, seed: int, tag: str | None = None) -> Path:
    return Path(corpus.path) / "zc" / (f"{dataset}-b{batch_size}-s{seed}" + (f"-{tag}" if tag else ""))


def task_ids(task_name: str, corpus_name: str) -> list[str]:
    """The native ids of a leaderboard task's test units that belong to ``corpus_name``."""
    from nabench.leaderboard.tasks import get_task, load_task_data

    units = load_task_data(get_task(task_name)).test_units
    ids = units.loc[units["corpus"] == corpus_name, "native_id"].astype(str).tolist()
    if not ids:
        raise NabenchError(f"task {task_name} has no test units in corpus {corpus_name}")
    return ids


def space_inits(records: pd.DataFrame) -> dict[str, str]:
    """``space → weight initialization`` for the spaces of ``records`` whose reference
    implementation does not use PyTorch's defaults (part of a run's settings)."""
    from nabench.zc.convert import SPACE_INIT

    spaces = sorted(map(str, records["space"].unique())) if "space" in records else []
    return {s: SPACE_INIT[s] for s in spaces if s in SPACE_INIT}


def shard_path(out: Path, k: int) -> Path:
    return out / f"shard-{k:05d}.parquet"


def _cell_seed(seed: int, native_id: str) -> int:
    return (seed * 1_000_003 + zlib.crc32(str(native_id).encode())) % (2**31)


def _init_worker(config: dict) -> None:
    import torch

    from nabench.zc import data

    torch.set_num_threads(1)
    _STATE.clear()
    _STATE["config"] = config
    if any(P.get(p).needs_data for p in config["proxies"]):
        x, y, _ = data.batch(config["dataset"], batch_size=config["batch_size"], seed=config["seed"],
                             root=config.get("data_root"))
        _STATE["batch"] = (x, y)


def score_cell(model: Any, proxies: Sequence[str], batch: tuple | None, *, seed: int,
               input_shape: Sequence[int] | None = None, init: str = "pytorch", device: str = "cpu") -> P.Result:
    """Build the module of one ONNX model (weights seeded by ``seed``, initialized by ``init``,
    see :func:`~nabench.zc.convert.to_torch`) and compute ``proxies`` on ``device`` (the module
    is built on the CPU, so its weights do not depend on the device); failures are recorded,
    never raised.

    The image ``batch`` feeds the data-dependent proxies of single-input models; a model with
    other inputs (a GNN's features and adjacency, a recurrent cell's tokens and states) gets a
    failure for those, naming its inputs. synflow and zen build their inputs from
    ``input_shape`` (without batch), else the batch's shape, else the model's declared inputs
    (for a single-input model, its non-batch dims: synflow batch 1, zen batch 64).
    """
    from nabench.zc.convert import to_torch

    result = P.Result()
    try:
        module = to_torch(model, seed=seed, init=init).to(device)
        n = sum(p.numel() for p in module.parameters())
        if n > MAX_PARAMS:
            raise P.ProxyError(f"architecture too large: {n:,} parameters > {MAX_PARAMS:,}")
        flops = None
        if "flops" in proxies:
            from nabench.graph import from_onnx

            flops = from_onnx(model).flops / 1e6
        x, y = batch if batch is not None else (None, None)
        specs = module.input_specs
        if x is not None and not (len(specs) == 1 and specs[0].dtype.is_floating_point):
            shown = ", ".join(f"{s.name}{list(s.dims)}:{str(s.dtype).replace('torch.', '')}" for s in specs)
            for p in proxies:
                if P.get(p).needs_data:
                    result.failures[p] = (f"no data batch for this model's inputs ({shown}); the image batches "
                                          "fit single-input image models only")
            proxies = [p for p in proxies if not P.get(p).needs_data]
            x = y = None
        single = specs[0].dims[1:] if len(specs) == 1 and specs[0].dtype.is_floating_point else None
        if input_shape is None and x is None and single and all(isinstance(d, int) for d in single):
            input_shape = single  # the leading dim is the batch, whatever the file declares (often 1)
        if input_shape is not None or x is not None:
            res = P.compute(module, x, y, proxies, flops=flops, input_shape=input_shape, seed=seed)
        else:
            res = P.compute(module, None, None, proxies, flops=flops, input_specs=specs, seed=seed)
        res.failures.update(result.failures)
        return res
    except (Exception, MemoryError) as e:  # noqa: BLE001 -- a bad cell never stops the run
        for p in proxies:
            result.failures.setdefault(p, f"{type(e).__name__}: {str(e)[:300]}")
        return result


def _shard_rows(task: tuple[int, list[dict]]) -> tuple[int, pd.DataFrame]:
    import time

    from nabench.normalize import build_model, has_builder
    from nabench.zc.convert import init_for

    k, records = task
    cfg = _STATE["config"]
    rows = []
    corpus = None
    for rec in records:
        t0 = time.perf_counter()
        nid = str(rec["native_id"])
        try:
            if has_builder(str(rec["space"])):
                model = build_model(rec, cfg["corpus"])
            else:
                if corpus is None:
                    from nabench import corpora

                    corpus = corpora.load(cfg["corpus"], cfg["version"])
                model = corpus.onnx(nid)
            res = score_cell(model, cfg["proxies"], _STATE.get("batch"), seed=_cell_seed(cfg["seed"], nid),
                             init=init_for(rec["space"]))
        except Exception as e:  # noqa: BLE001 -- e.g. a record its builder rejects
            res = P.Result(failures={p: f"{type(e).__name__}: {str(e)[:300]}" for p in cfg["proxies"]})
        row: dict[str, Any] = {"native_id": nid}
        for p in cfg["proxies"]:
            row[p] = res.scores.get(p, float("nan"))
            row[f"{p}__error"] = res.failures.get(p, "")
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
    return k, pd.DataFrame(rows)


def _local(tasks: Iterator, config: dict, workers: int) -> Iterator[tuple[int, pd.DataFrame]]:
    if workers <= 1:
        _init_worker(config)
        for t in tasks:
            yield _shard_rows(t)
        return
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(config,), maxtasksperchild=MAX_TASKS_PER_CHILD) as pool:
        yield from pool.imap_unordered(_shard_rows, tasks, chunksize=1)


def _ray_shard(config: dict, task: tuple[int, list[dict]]) -> tuple[int, pd.DataFrame]:
    if _STATE.get("config") != config:
        _init_worker(config)
    return _shard_rows(task)


def _ray(tasks: Iterator, config: dict, workers: int) -> Iterator[tuple[int, pd.DataFrame]]:
    try:
        import ray
    except ImportError:
        raise NabenchError("--executor ray needs Ray: pip install 'nabench[ray]'") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=os.environ.get("RAY_ADDRESS"), num_cpus=None if os.environ.get("RAY_ADDRESS") else workers,
                 include_dashboard=False, log_to_driver=False)
    remote = ray.remote(num_cpus=1)(_ray_shard)
    try:
        pending = []
        for t in tasks:
            pending.append(remote.remote(config, t))
            if len(pending) >= 2 * workers:
                done, pending = ray.wait(pending, num_returns=1)
                yield ray.get(done[0])
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started:
            ray.shutdown()


def compute_corpus(corpus_name: str, proxies: Sequence[str], *, out: str | Path | None = None,
                   dataset: str = "cifar10", batch_size: int = 64, seed: int = 0, workers: int = 1,
                   executor: str = "process", shard_size: int = 64, limit: int | None = None,
                   ids: Sequence[str] | None = None, tag: str | None = None,
                   data_root: str | Path | None = None, progress: Callable[[int, int], None] | None = None) -> Path:
    """Compute ``proxies`` for the records of a corpus (those with native id in ``ids``, in
    corpus order; then the first ``limit``); returns the run folder (default: under the corpus
    store, named by dataset, batch, seed and ``tag``)."""
    import hashlib

    from nabench import __version__, corpora
    from nabench.zc import data

    proxies = list(dict.fromkeys(proxies))
    for p in proxies:
        P.get(p)
    if executor not in ("process", "ray"):
        raise NabenchError(f"unknown executor {executor!r} (process, ray)")
    if workers < 1 or shard_size < 1:
        raise NabenchError("workers and shard_size must be >= 1")
    corpus = corpora.load(corpus_name)
    records = corpus.records()
    ids_sha = None
    if ids is not None:
        wanted = sorted(set(map(str, ids)))
        present = records["native_id"].astype(str).isin(wanted)
        missing = sorted(set(wanted) - set(records.loc[present, "native_id"].astype(str)))
        if missing:
            raise NabenchError(f"{len(missing)} id(s) are not records of {corpus_name}, e.g. {missing[0]!r}")
        records = records[present]
        ids_sha = hashlib.sha256("\n".join(wanted).encode()).hexdigest()
    if limit is not None:
        records = records.iloc[:limit]
    info = None
    if any(P.get(p).needs_data for p in proxies):
        info = data.batch(dataset, batch_size=batch_size, seed=seed, root=data_root)[2].as_dict()
    out = Path(out) if out is not None else run_dir(corpus, dataset, batch_size, seed, tag)
    out.mkdir(parents=True, exist_ok=True)
    config = {"corpus": corpus.name, "version": corpus.version, "proxies": proxies, "dataset": dataset,
              "batch_size": batch_size, "seed": seed, "shard_size": shard_size,
              "data_root": None if data_root is None else str(data_root)}
    if ids_sha is not None:
        config["ids_sha256"] = ids_sha
    inits = space_inits(records)
    if inits:
        config["init"] = inits
    run_file = out / RUN_FILE
    if run_file.exists():
        old = json.loads(run_file.read_text(encoding="utf-8"))
        if old.get("config") != config:
            raise NabenchError(f"{out}: holds a run with different settings ({old.get('config')}); "
                               "use another --out or remove it")
    else:
        text = json.dumps({"config": config, "batch": info, "nabench_version": __version__}, indent=2) + "\n"
        write_atomic(run_file, lambda p: p.write_text(text, encoding="utf-8"))
    n_shards = (len(records) + shard_size - 1) // shard_size
    todo = [k for k in range(n_shards) if not shard_path(out, k).exists()]
    cols = list(records.columns)

    def tasks() -> Iterator[tuple[int, list[dict]]]:
        for k in todo:
            part = records.iloc[k * shard_size:(k + 1) * shard_size]
            yield k, [dict(zip(cols, row)) for row in part.itertuples(index=False, name=None)]

    run = _ray if executor == "ray" else _local
    done = n_shards - len(todo)
    if progress:
        progress(done, n_shards)
    for k, frame in run(tasks(), config, workers):
        write_atomic(shard_path(out, k), lambda p, f=frame: f.to_parquet(p, index=False))
        done += 1
        if progress:
            progress(done, n_shards)
    return out


def read_scores(out: str | Path) -> pd.DataFrame:
    """All rows of a run folder, in corpus order."""
    out = Path(out)
    files = sorted(out.glob("shard-*.parquet"))
    if not (out / RUN_FILE).exists():
        raise NabenchError(f"{out}: not a zc run folder (no {RUN_FILE})")
    if not files:
        return pd.DataFrame(columns=["native_id"])
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)

