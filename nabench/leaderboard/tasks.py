"""Leaderboard tasks: ``leaderboard/tasks/<name>.yml`` (shipped as package data).

A task names a corpus and version, a target column, train sizes, seeds and the split rule.
Everything about its splits is a pure function of the task file and of the pinned units file
``leaderboard/tasks/units/<corpus>-<version>.parquet`` (native_id -> arch_id, written once by
:func:`pin_units` from the normalized corpus): no normalization is needed to know a split.

Units are what is split and scored. ``split_by: arch_id`` (the default): one unit per distinct
``arch_id`` (isomorphic twins collapse into one unit whose target is the mean of their labels,
so a twin never sits on both sides of a split). ``split_by: native_id``: one unit per record;
only for tasks that reproduce a published protocol which sampled native ids, and such a task
must say so in ``protocol``.

Test set: ``test: rest`` (every pool unit not in the split's training set, the TNASP/PINAT
protocol) or ``test: {size: N}`` (one fixed random sample of the pool, the same for every train
size and seed; training sets are drawn from the remaining units). Training sets are nested:
for one seed, the first ``N`` units of one permutation. Zero-shot tasks (``train_from``) train
on other corpora (targets as percentile ranks within each source) and test on the task corpus.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from nabench.errors import NabenchError, UnknownNameError

SPLIT_BY = ("arch_id", "native_id")
REQUIRED = ("name", "version", "family", "title", "corpus", "corpus_version", "target",
                     "higher_is_better", "train_sizes", "seeds")
OPTIONAL = ("split_by", "protocol", "pool", "test", "train_from", "top_k_percent", "ndcg_k", "description")


class TaskError(NabenchError):
    """A task file that is malformed, or a task that does not exist."""


def data_dir() -> Path:
    """The shipped leaderboard files (``leaderboard/`` in the repository)."""
    return Path(str(files("nabench.leaderboard.files")))


def tasks_dir() -> Path:
    return data_dir() / "tasks"


def units_path(corpus: str, version: str) -> Path:
    return tasks_dir() / "units" / f"{corpus}-{version}.parquet"


@dataclass(frozen=True)
class Source:
    """A corpus and target column a task reads labels from."""

    corpus: str
    corpus_version: str
    target: str


@dataclass(frozen=True)
class Task:
    name: str
    version: int
    family: str
    title: str
    corpus: str
    corpus_version: str
    target: str
    higher_is_better: bool
    train_sizes: tuple[int, ...]
    seeds: tuple[int, ...]
    split_by: str = "arch_id"
    protocol: str = ""
    pool_size: int | None = None
    test_size: int | None = None
    train_from: tuple[Source, ...] = ()
    top_k_percent: float = 5.0
    ndcg_k: int = 50
    description: str = ""
    sha256: str = field(default="", compare=False)

    @property
    def source(self) -> Source:
        return Source(self.corpus, self.corpus_version, self.target)

    @property
    def zero_shot(self) -> bool:
        return bool(self.train_from)

    @property
    def key(self) -> str:
        """The id column predictions are keyed by: ``arch_id`` (or ``native_id``)."""
        return self.split_by


def _require(cond: bool, path: Path, problem: str) -> None:
    if not cond:
        raise TaskError(f"{path}: {problem}")


def _int_list(value, path: Path, key: str) -> tuple[int, ...]:
    _require(isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                                          for v in value), path, f"{key} must be a non-empty list of non-negative integers")
    _require(len(set(value)) == len(value), path, f"{key} has duplicates")
    return tuple(value)


def parse_task(path: Path) -> Task:
    """A :class:`Task` from its YAML file; every problem is one error naming the file and the key."""
    raw = path.read_bytes()
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise TaskError(f"{path}: not valid YAML ({e})") from None
    _require(isinstance(doc, dict), path, "must be a mapping")
    unknown = sorted(set(doc) - set(REQUIRED) - set(OPTIONAL))
    _require(not unknown, path, f"unknown key(s) {unknown}")
    missing = [k for k in REQUIRED if k not in doc]
    _require(not missing, path, f"missing key(s) {missing}")
    _require(doc["name"] == path.stem, path, f"name {doc['name']!r} must equal the file name {path.stem!r}")
    _require(isinstance(doc["version"], int) and doc["version"] >= 1, path, "version must be an integer >= 1")
    _require(isinstance(doc["higher_is_better"], bool), path, "higher_is_better must be true or false")
    split_by = doc.get("split_by", "arch_id")
    _require(split_by in SPLIT_BY, path, f"split_by must be one of {SPLIT_BY}")
    protocol = str(doc.get("protocol", "")).strip()
    _require(split_by == "arch_id" or protocol, path,
             "split_by native_id lets isomorphic twins sit on both sides of a split; "
             "such a task must name the published protocol it reproduces in `protocol`")
    pool = doc.get("pool", "all")
    _require(pool == "all" or (isinstance(pool, dict) and set(pool) == {"size"} and isinstance(pool["size"], int)),
             path, "pool must be 'all' or {size: N}")
    test = doc.get("test", "rest")
    _require(test == "rest" or (isinstance(test, dict) and set(test) == {"size"} and isinstance(test["size"], int)),
             path, "test must be 'rest' or {size: N}")
    sources = []
    for s in doc.get("train_from") or []:
        _require(isinstance(s, dict) and set(s) == {"corpus", "corpus_version", "target"}, path,
                 "each train_from entry must have exactly corpus, corpus_version, target")
        sources.append(Source(str(s["corpus"]), str(s["corpus_version"]), str(s["target"])))
    _require(not sources or test == "rest", path, "a zero-shot task (train_from) tests on its whole pool: test must be 'rest'")
    _require(not sources or split_by == "arch_id", path, "a zero-shot task splits by arch_id")
    return Task(
        name=doc["name"], version=doc["version"], family=str(doc["family"]), title=str(doc["title"]),
        corpus=str(doc["corpus"]), corpus_version=str(doc["corpus_version"]), target=str(doc["target"]),
        higher_is_better=doc["higher_is_better"],
        train_sizes=tuple(sorted(_int_list(doc["train_sizes"], path, "train_sizes"))),
        seeds=_int_list(doc["seeds"], path, "seeds"), split_by=split_by, protocol=protocol,
        pool_size=None if pool == "all" else pool["size"], test_size=None if test == "rest" else test["size"],
        train_from=tuple(sources), top_k_percent=float(doc.get("top_k_percent", 5.0)), ndcg_k=int(doc.get("ndcg_k", 50)),
        description=str(doc.get("description", "")).strip(), sha256=hashlib.sha256(raw).hexdigest(),
    )


@cache
def _all_tasks(directory: str) -> dict[str, Task]:
    return {p.stem: parse_task(p) for p in sorted(Path(directory).glob("*.yml"))}


def all_tasks() -> dict[str, Task]:
    """Every shipped task by name."""
    return dict(_all_tasks(str(tasks_dir())))


def get_task(name: str) -> Task:
    tasks = all_tasks()
    if name not in tasks:
        raise UnknownNameError(f"no leaderboard task named {name!r} (known: {', '.join(tasks)})")
    return tasks[name]


# ----------------------------------------------------------------------------------------------
# units and splits


def _rng(*words: int | str) -> np.random.Generator:
    """A generator seeded from words (strings through CRC32), the same on every machine."""
    return np.random.default_rng([zlib.crc32(w.encode()) if isinstance(w, str) else int(w) for w in words])


@cache
def pinned_units(corpus: str, version: str) -> pd.Series:
    """native_id -> arch_id of the pinned units file."""
    path = units_path(corpus, version)
    if not path.is_file():
        raise TaskError(f"{path}: no pinned units for corpus {corpus} {version}; "
                        f"run: nabench leaderboard pin-units {corpus}")
    df = pd.read_parquet(path)
    return df.set_index("native_id")["arch_id"]


def source_units(source: Source, labels: pd.Series, split_by: str, pool_size: int | None, pool_name: str) -> pd.DataFrame:
    """The units of one source: index = unit key, columns ``native_id`` (the representative
    record: smallest native id) and ``y`` (the label, mean over twins), sorted by key."""
    labels = labels[np.isfinite(labels.to_numpy(dtype=float))]
    labels.index = labels.index.astype(str)
    ids = pool_ids(labels, pool_size, pool_name)
    y = labels.loc[ids].astype(float)
    frame = pd.DataFrame({"native_id": ids, "y": y.to_numpy()})
    if split_by == "arch_id":
        pinned = pinned_units(source.corpus, source.corpus_version)
        missing = [i for i in ids if i not in pinned.index]
        if missing:
            raise TaskError(f"units file of {source.corpus} {source.corpus_version} lacks {len(missing)} pool records "
                            f"(e.g. {missing[:3]}); run: nabench leaderboard pin-units {source.corpus}")
        frame["key"] = pinned.loc[ids].to_numpy()
        frame = frame.groupby("key", sort=True).agg(native_id=("native_id", "min"), y=("y", "mean"))
    else:
        frame = frame.set_index(frame["native_id"].rename("key")).sort_index()
    return frame


def pool_ids(labels: pd.Series, pool_size: int | None, pool_name: str) -> np.ndarray:
    """The sorted native ids of a pool: every labeled record, or a fixed random sample of them."""
    ids = np.sort(labels.index.astype(str).to_numpy())
    if pool_size is None:
        return ids
    if pool_size > len(ids):
        raise TaskError(f"{pool_name}: pool size {pool_size} exceeds the {len(ids)} labeled records")
    return np.sort(ids[_rng("pool", pool_name, pool_size).permutation(len(ids))[:pool_size]])


@dataclass(frozen=True)
class Split:
    train_size: int
    seed: int
    train: np.ndarray  # row positions into TaskData.train_pool
    test: np.ndarray   # row positions into TaskData.test_units


@dataclass
class TaskData:
    """The labeled units of a task and its splits."""

    task: Task
    train_pool: pd.DataFrame  # index key; columns corpus, native_id, y
    test_units: pd.DataFrame  # index key; columns corpus, native_id, y
    rest: bool  # test = pool minus the split's training units

    def y_true(self, split: Split) -> pd.Series:
        return self.test_units["y"].iloc[split.test]

    def splits(self, train_sizes=None, seeds=None) -> list[Split]:
        """Every (train size, seed) split, sizes outer, seeds inner."""
        sizes = self.task.train_sizes if train_sizes is None else tuple(train_sizes)
        seed_list = self.task.seeds if seeds is None else tuple(seeds)
        bad = sorted(set(sizes) - set(self.task.train_sizes))
        if bad:
            raise TaskError(f"task {self.task.name}: train size(s) {bad} are not in the task ({list(self.task.train_sizes)})")
        bad = sorted(set(seed_list) - set(self.task.seeds))
        if bad:
            raise TaskError(f"task {self.task.name}: seed(s) {bad} are not in the task ({list(self.task.seeds)})")
        n = len(self.train_pool)
        if max(sizes) > n - (1 if self.rest else 0):
            raise TaskError(f"task {self.task.name}: train size {max(sizes)} leaves no test units (pool {n})")
        out = []
        all_test = np.arange(len(self.test_units))
        for size in sizes:
            for seed in seed_list:
                perm = _rng("train", self.task.name, seed).permutation(n)
                train = np.sort(perm[:size])
                test = np.setdiff1d(all_test, train) if self.rest else all_test
                out.append(Split(size, seed, train, test))
        return out


def load_task_data(task: Task) -> TaskData:
    """Units and labels of a task, from its (built) corpora and the pinned units files."""
    from nabench import corpora

    def labels(src: Source):  # (labels, column description)
        corpus = corpora.load(src.corpus, src.corpus_version)
        return corpus.labels(src.target), corpus.column(src.target)

    y, col = labels(task.source)
    if col.higher_is_better is not None and bool(col.higher_is_better) != task.higher_is_better:
        raise TaskError(f"task {task.name}: higher_is_better={task.higher_is_better} but corpus column "
                        f"{task.target} says {col.higher_is_better}")
    units = source_units(task.source, y, task.split_by, task.pool_size, task.corpus).assign(corpus=task.corpus)
    if task.zero_shot:
        parts = []
        for src in task.train_from:
            s_y, s_col = labels(src)
            u = source_units(src, s_y, "arch_id", None, src.corpus)
            rank = u["y"].rank(pct=True, ascending=bool(s_col.higher_is_better is not False))
            parts.append(u.assign(y=rank.to_numpy(), corpus=src.corpus))
        pool = pd.concat(parts)
        pool = pool[~pool.index.duplicated(keep="first")]
        return TaskData(task, pool[["corpus", "native_id", "y"]], units[["corpus", "native_id", "y"]], rest=False)
    units = units[["corpus", "native_id", "y"]]
    if task.test_size is None:
        return TaskData(task, units, units, rest=True)
    if task.test_size >= len(units):
        raise TaskError(f"task {task.name}: test size {task.test_size} leaves no training units (pool {len(units)})")
    pick = np.zeros(len(units), dtype=bool)
    pick[_rng("test", task.name).permutation(len(units))[:task.test_size]] = True
    return TaskData(task, units[~pick], units[pick], rest=False)


def split_fingerprint(data: TaskData) -> str:
    """SHA-256 over every split's train and test unit keys (what the determinism test pins)."""
    h = hashlib.sha256()
    for s in data.splits():
        h.update(f"{s.train_size}/{s.seed}:".encode())
        h.update("\n".join(data.train_pool.index[s.train]).encode())
        h.update(b"|")
        h.update("\n".join(data.test_units.index[s.test]).encode())
    return h.hexdigest()


def needed_native_ids(corpus_name: str) -> list[str]:
    """Every record of ``corpus_name`` some shipped task's pool (or zero-shot source) uses."""
    from nabench import corpora

    ids: set[str] = set()
    for task in all_tasks().values():
        if task.corpus == corpus_name:
            y = corpora.load(task.corpus, task.corpus_version).labels(task.target)
            ids.update(pool_ids(y[np.isfinite(y.to_numpy(dtype=float))], task.pool_size, task.corpus))
        for src in task.train_from:
            if src.corpus == corpus_name:
                y = corpora.load(src.corpus, src.corpus_version).labels(src.target)
                ids.update(y.index[np.isfinite(y.to_numpy(dtype=float))].astype(str))
    return sorted(ids)


def pin_units(corpus_name: str, *, workers: int = 1, progress=None) -> Path:
    """Normalize the records the shipped tasks use and write the corpus units file (native_id, arch_id)."""
    from nabench import corpora
    from nabench.leaderboard.graphs import ensure_normalized
    from nabench.corpora.store import write_atomic

    corpus = corpora.load(corpus_name)
    ids = needed_native_ids(corpus_name)
    if not ids:
        raise TaskError(f"no shipped task uses corpus {corpus_name}")
    ensure_normalized(corpus, ids, workers=workers, progress=progress)
    g = corpus.graphs().set_index("native_id")["arch_id"]
    frame = pd.DataFrame({"native_id": sorted(ids)})
    frame["arch_id"] = g.loc[frame["native_id"]].to_numpy()
    path = units_path(corpus.name, corpus.version)
    write_atomic(path, lambda p: frame.to_parquet(p, index=False))
    pinned_units.cache_clear()
    return path
