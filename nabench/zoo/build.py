"""``nabench zoo build NAME``: train a zoo entry from its recipe and write its files and card.

The recipe is deterministic: architectures are grouped by ``arch_id`` (isomorphic twins never sit
on both sides of the split), the groups are shuffled by ``numpy.random.default_rng(seed)``, the
first ``train_size`` groups are the training set and the next ``test_size`` the held-out set the
metrics are computed on. Each group is represented by its first native id (sorted). With
``members > 1`` member ``k`` is trained on a bootstrap resample (``default_rng([seed, k])``) of the
training set and the ensemble spread is the uncertainty; with one member it is trained on the
training set as is.

The reference records are every labelled record of each source (a seeded sample of
:data:`REFERENCE_MAX` of them for larger corpora). The ensemble predicts all of them (each distinct
architecture is decoded and encoded once, shared with the training and held-out sets), and
``reference.json`` stores 1001 quantiles of those predictions and of the measured targets, so that
a new prediction is placed among the corpus's architectures offline and without any corpus.

Sources may have their own ``train_size`` / ``test_size``; the entry's ``zero_shot`` corpora
(never trained on) are scored over all their labelled records (:func:`zero_shot_metrics`, stored
as ``metrics["zero_shot"]``).

The output folder holds ``member-<k>/`` (each a :meth:`Predictor.save` folder: ``config.json``
plus the predictor's native files, never pickle), ``reference.json`` and ``card.yml`` (the
entry's registry block with every file's sha256 and size, and the recomputed metrics).
:func:`release` records a build in a source checkout's ``registry.yml`` (and ``embedded/``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import yaml

from nabench.zoo.catalog import FORMAT, REGISTRY_FILE, Entry, ZooError, ZooFile
from nabench.zoo.download import sha256_file

REFERENCE_FILE = "reference.json"
CARD_FILE = "card.yml"
RELEASE_BASE = "https://github.com/nabench/nabench-zoo/releases/download/zoo-v1"
N_QUANTILES = 1001
#: at most this many reference records per source (a seeded sample beyond)
REFERENCE_MAX = 20_000


@dataclasses.dataclass
class Split:
    """Training, held-out and reference records of one source (native ids and targets), and each
    labelled record's architecture."""

    train_ids: list[str]
    test_ids: list[str]
    y_train: np.ndarray
    y_test: np.ndarray
    reference_ids: list[str]
    y_reference: np.ndarray
    arch_of: dict[str, str]  # native_id -> arch_id, for every labelled record


def _transform(y: pd.Series, kind: str) -> pd.Series:
    if kind == "rank":  # within-corpus percentile in (0, 1]: comparable across spaces
        return y.rank(method="average") / len(y)
    return y


def split_source(corpus, target: str, train_size: int, test_size: int, seed: int, transform: str) -> Split:
    """The deterministic arch_id-grouped split of one corpus (see the module docstring)."""
    from nabench.normalize import read_graphs

    y = _transform(corpus.labels(target).astype(np.float64), transform)
    graphs = read_graphs(corpus.path, columns=["native_id", "arch_id"])
    rows = graphs[graphs["native_id"].isin(y.index)].sort_values("native_id")
    if len(rows) < len(y):
        raise ZooError(f"corpus {corpus.name}: {len(y) - len(rows)} labelled records are not normalized; "
                       f"run: nabench normalize {corpus.name}")
    reps = rows.drop_duplicates("arch_id", keep="first")
    groups = np.sort(reps["arch_id"].to_numpy())
    if train_size + test_size > len(groups):
        raise ZooError(f"corpus {corpus.name}: train_size {train_size} + test_size {test_size} exceeds the "
                       f"{len(groups)} distinct architectures labelled with {target}")
    order = np.random.default_rng(seed).permutation(len(groups))
    rep_of = dict(zip(reps["arch_id"], reps["native_id"]))
    train_ids = [rep_of[a] for a in groups[order[:train_size]]]
    test_ids = [rep_of[a] for a in groups[order[train_size:train_size + test_size]]]
    reference = y
    if len(y) > REFERENCE_MAX:
        reference = y.iloc[np.sort(np.random.default_rng([seed, REFERENCE_MAX]).choice(len(y), REFERENCE_MAX,
                                                                                         replace=False))]
    return Split(train_ids, test_ids, y.loc[train_ids].to_numpy(), y.loc[test_ids].to_numpy(),
                 list(reference.index), reference.to_numpy(), dict(zip(rows["native_id"], rows["arch_id"])))


def source_sizes(entry: Entry, source) -> tuple[int, int]:
    """(train_size, test_size) of one source: its own, else the entry's."""
    return (entry.train_size if source.train_size is None else source.train_size,
            entry.test_size if source.test_size is None else source.test_size)


def zero_shot_metrics(members: Sequence, source, *, workers: int = 1) -> dict:
    """Spearman / Kendall of the members' mean prediction against *every* labelled record of a corpus the
    entry never trained on (each distinct architecture predicted once; isomorphic twins share it)."""
    from nabench.encoders.tabular import feature_cache
    from nabench.normalize import read_graphs
    from nabench.zoo.estimator import ensemble_predict

    corpus = load_source(source, workers=workers)
    y = corpus.labels(source.target).astype(np.float64).sort_index()
    arch = read_graphs(corpus.path, columns=["native_id", "arch_id"]).set_index("native_id")["arch_id"]
    arch = arch.loc[y.index]
    reps = arch.reset_index().drop_duplicates("arch_id")
    with feature_cache():
        pred, _ = ensemble_predict(members, corpus.arch_graphs(list(reps["native_id"])))
    per_record = pd.Series(pred, index=reps["arch_id"].to_numpy()).loc[arch.to_numpy()].to_numpy()
    m = metrics(y.to_numpy(), per_record, "rank")
    return {"corpus": corpus.name, "version": corpus.version, "target": source.target,
            "records": m.pop("test_size"), **m}


def load_source(source, *, normalize_missing: bool = True, workers: int = 1):
    """The built corpus of a source, normalized (normalizing it first when asked)."""
    from nabench import corpora
    from nabench.normalize import normalize, read_plan

    corpus = corpora.load(source.corpus)
    if source.version and corpus.version != source.version:
        raise ZooError(f"entry trained on {source.corpus} {source.version}, but {corpus.version} is built")
    if read_plan(corpus.path) is None or len(corpus.graphs()) < corpus.manifest["n_records"]:
        if not normalize_missing:
            raise ZooError(f"corpus {source.corpus} is not normalized; run: nabench normalize {source.corpus}")
        normalize(source.corpus, workers=workers)
    return corpus


def metrics(y_true: np.ndarray, y_pred: np.ndarray, transform: str) -> dict:
    """Held-out metrics, rounded to 6 decimals (what the registry stores and the tests recompute)."""
    from scipy import stats

    out = {"test_size": int(len(y_true)),
           "kendall_tau_b": float(stats.kendalltau(y_true, y_pred, variant="b").statistic),
           "spearman_rho": float(stats.spearmanr(y_true, y_pred).statistic)}
    if transform == "none":
        out["mae"] = float(np.mean(np.abs(y_true - y_pred)))
        out["rmse"] = float(np.sqrt(np.mean((y_true - y_pred) ** 2)))
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in out.items()}


def member_params(entry: Entry, predictor_cls, k: int) -> dict:
    """The recipe's params, with the predictor's seed parameter (if any) set per member."""
    params = dict(entry.params)
    known = predictor_cls().get_params(deep=False)
    for seed_name in ("random_state", "seed"):
        if seed_name in known and seed_name not in entry.params:
            params[seed_name] = entry.seed * 1000 + k
    return params


def train_members(entry: Entry, graphs: Sequence, y: np.ndarray) -> list:
    from nabench.encoders.tabular import feature_cache
    from nabench.registry import predictors

    cls = predictors.get(entry.predictor)
    members = []
    with feature_cache():  # members see the same graphs: encode each once
        for k in range(entry.members):
            model = cls(**member_params(entry, cls, k))
            if entry.members == 1:
                model.fit(list(graphs), y)
            else:
                idx = np.random.default_rng([entry.seed, k]).integers(0, len(y), len(y))
                model.fit([graphs[i] for i in idx], y[idx])
            members.append(model)
    return members


def _decode_once(corpus, split: Split) -> dict[str, object]:
    """arch_id -> ArchGraph for every architecture of the split's training, held-out and reference
    records, each decoded once (from the first native id of its group, as the split picks them)."""
    wanted = {split.arch_of[k] for k in [*split.reference_ids, *split.train_ids, *split.test_ids]}
    rep: dict[str, str] = {}
    for native_id in sorted(split.arch_of):
        a = split.arch_of[native_id]
        if a in wanted:
            rep.setdefault(a, native_id)
    return dict(zip(rep, corpus.arch_graphs(list(rep.values()))))


def build(entry: Entry, out: Path, *, workers: int = 1) -> Path:
    """Train ``entry`` from its recipe into ``out/<name>/`` (atomically); returns that folder."""
    from nabench import __version__
    from nabench.corpora.store import atomic_export_dir, write_atomic_text
    from nabench.encoders.tabular import feature_cache
    from nabench.zoo.estimator import ensemble_predict

    parts: list[tuple[Split, dict]] = []
    sources = []
    for source in entry.sources:
        corpus = load_source(source, workers=workers)
        s = split_source(corpus, source.target, *source_sizes(entry, source), entry.seed, entry.target_transform)
        parts.append((s, _decode_once(corpus, s)))
        col = corpus.column(source.target)
        own_sizes = {k: getattr(source, k) for k in ("train_size", "test_size") if getattr(source, k) is not None}
        sources.append({"corpus": corpus.name, "version": corpus.version,
                        "content_sha256": corpus.manifest["content_sha256"], "target": source.target,
                        "unit": col.unit, "higher_is_better": col.higher_is_better, **own_sizes})

    def graphs(kind: str) -> list:
        return [g[s.arch_of[k]] for s, g in parts for k in getattr(s, f"{kind}_ids")]

    def targets(kind: str) -> np.ndarray:
        return np.concatenate([getattr(s, f"y_{kind}") for s, _ in parts])

    with feature_cache():  # training, held-out and reference graphs overlap: encode each once
        members = train_members(entry, graphs("train"), targets("train"))
        pred, _ = ensemble_predict(members, graphs("test"))
        reference = [ensemble_predict(members, list(g.values()))[0] for _, g in parts]
    predicted = []  # per reference record: the prediction for its architecture
    for (s, g), r in zip(parts, reference):
        row = {a: i for i, a in enumerate(g)}
        predicted.append(r[[row[s.arch_of[k]] for k in s.reference_ids]])
    predicted = np.concatenate(predicted)
    levels = np.linspace(0, 1, N_QUANTILES)

    with atomic_export_dir(Path(out), entry.name) as folder:
        for k, model in enumerate(members):
            model.save(folder / f"member-{k}")
        ref = {"target": entry.target, "records": int(len(predicted)),
               "predicted_quantiles": [float(v) for v in np.quantile(predicted, levels)],
               "measured_quantiles": [float(v) for v in np.quantile(targets("reference"), levels)]}
        (folder / REFERENCE_FILE).write_text(json.dumps(ref, indent=1) + "\n", encoding="utf-8")
        files = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(folder).as_posix()
            files.append(ZooFile(rel, f"{RELEASE_BASE}/{entry.name}/{rel}", sha256_file(path), path.stat().st_size))
        measured = metrics(targets("test"), pred, entry.target_transform)
        if entry.zero_shot:
            measured["zero_shot"] = [zero_shot_metrics(members, z, workers=workers) for z in entry.zero_shot]
        card = card_block(entry, files, sources, measured, __version__)
        write_atomic_text(folder / CARD_FILE, yaml.safe_dump({entry.name: card}, sort_keys=False, width=100))
    return Path(out) / entry.name


def card_block(entry: Entry, files: list[ZooFile], sources: list[dict], measured: dict, version: str) -> dict:
    """The registry block of a freshly built entry (recipe and card text from ``entry``)."""
    raw = dict(entry.raw)
    raw["format"] = FORMAT
    unit = {s["unit"] for s in sources}
    hib = {s["higher_is_better"] for s in sources}
    raw["files"] = [dataclasses.asdict(f) for f in files]
    raw["training"] = {
        "sources": sources, "train_size": entry.train_size, "test_size": entry.test_size, "seed": entry.seed,
        "split": "arch_id groups, numpy default_rng(seed) permutation; first train_size train, next test_size test",
        "target_transform": entry.target_transform,
        "unit": "percentile" if entry.target_transform == "rank" else (unit.pop() if len(unit) == 1 else None),
        "higher_is_better": hib.pop() if len(hib) == 1 else True,
    }
    raw["metrics"] = measured
    raw["built_with"] = f"nabench {version}"
    return raw


def release(folder: Path, package_dir: Path | None = None) -> Path:
    """Maintainers, in a source checkout: make the build in ``folder`` its entry's block of
    ``registry.yml`` (the comment header is kept) and, for an embedded entry, replace
    ``embedded/<name>/`` with the built files. Returns the registry path."""
    from nabench.corpora.store import make_build_dir, replace_dir_atomically, write_atomic_text
    from nabench.zoo.catalog import parse_entry, read_registry

    package_dir = Path(package_dir) if package_dir else Path(__file__).parent
    ((name, block),) = yaml.safe_load((folder / CARD_FILE).read_text(encoding="utf-8")).items()
    entry = parse_entry(name, block)
    registry = package_dir / REGISTRY_FILE
    text = registry.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    header = "".join(lines[:next(i for i, line in enumerate(lines) if not line.startswith("#"))])
    doc = yaml.safe_load(text)
    if name not in doc["entries"]:
        raise ZooError(f"{registry}: no entry {name} to update (add its recipe first)")
    doc["entries"][name] = block
    new_text = header + yaml.safe_dump(doc, sort_keys=False, width=110)
    read_registry(new_text)  # refuse to write a registry that does not parse
    if entry.embedded:
        import shutil

        staging = make_build_dir(package_dir / "embedded", f".release-{name}-")
        try:
            for f in entry.files:
                (staging / f.path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(folder / f.path, staging / f.path)
            replace_dir_atomically(staging, package_dir / "embedded" / name)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return write_atomic_text(registry, new_text)
