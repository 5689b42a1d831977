"""NAS-Bench-Suite-Zero / NASLib published formats, read without their code.

NAS-Bench-Suite-Zero (Krishnakumar et al., NeurIPS 2022 Datasets and Benchmarks) is NASLib's
release of zero-cost proxy scores (``automl/NASLib``, branch ``zerocost``; the files of
``naslib/data/zc_*.json`` and the ``naslib_zc_suite`` data folder). Formats read here:

* **JSON** ``zc_<space>_<n>archs[_<k>proxies].json``: ``{[space,] task: {arch: entry}}`` where
  ``arch`` is NASLib's tuple encoding of the architecture written as text (``str(tuple)`` or
  ``str(list)``) and ``entry`` is ``{"idx": int, "arch": the same text, "val_accuracy": float,
  <proxy>: {"score": float, "time": float}}`` (older files write a bare score instead of
  ``{score, time}``). Proxy names are those of :data:`ALL_PROXIES`
  (``naslib/predictors/utils/pruners/measures``).
* **Failure marker**: NASLib writes ``-1e8`` (:data:`PROXY_FAILED`) for a proxy whose
  computation failed (``naslib/runners/zc/runner.py``); :func:`clean_proxy` turns it into NaN.
* **NinaPro / spherical CIFAR-100 / SVHN CSV** (:data:`NINAPRO_CSV`): 1,770 rows
  ``search_space, dataset, arch, <13 proxies>, val_accuracy`` for NAS-Bench-201 (199 cells),
  NAS-Bench-301 (199) and TransNAS-Bench-101 micro (192) networks that Suite-Zero trained on
  the NAS-Bench-360 tasks NinaPro DB5 and spherical CIFAR-100, and on SVHN
  (``search_space`` is NASLib's name: ``nasbench201``, ``nasbench301``, ``transbench101_micro``).

Used by the nb101, nb201, nb301 and transnas corpus importers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from nabench.corpora.columns import Column, proxy_score, quality_label
from nabench.corpora.sources import check_unique, read_csv, read_json
from nabench.errors import SourceError

#: Folder of the NASLib / Suite-Zero files in the data snapshot.
SUBDIR = "naslib_zc_suite"
#: NASLib's "this proxy failed" value.
PROXY_FAILED = -1e8
#: Every zero-cost proxy name NAS-Bench-Suite-Zero files use (the NinaPro CSV's column order).
ALL_PROXIES = ("epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov", "l2_norm", "nwot", "params",
               "plain", "snip", "synflow", "zen")
#: Proxies that do not depend on weights or data (identical whenever the network is identical).
DETERMINISTIC_PROXIES = ("flops", "params")

NINAPRO_CSV = "nb201_nb301_tnbmicro_on_ninapro_scifar100_svhn_zc14_valacc.csv"
NINAPRO_COLUMNS = ("search_space", "dataset", "arch", "epe_nas", "val_accuracy", "fisher", "flops", "grad_norm",
                   "grasp", "jacov", "l2_norm", "nwot", "params", "plain", "snip", "synflow", "zen")
NINAPRO_ROWS = 1770
#: The file's dataset name -> (our dataset name, what it is); the same names as the nb201 corpus.
NINAPRO_DATASETS = {"ninapro": ("ninapro", "NinaPro DB5 (sEMG gesture classification, NAS-Bench-360)"),
                    "scifar100": ("spherical-cifar100", "Spherical CIFAR-100 (NAS-Bench-360)"),
                    "svhn": ("svhn", "SVHN")}
#: Suffix of proxy columns taken from a Suite-Zero JSON when the proxy depends on data or initialisation:
#: NASLib recomputed them for the JSON, so they differ from the full-space releases.
JSON_SUFFIX = "naslib-json"

#: BibTeX of NAS-Bench-Suite-Zero, for the importers that read its files.
CITATION = """@inproceedings{krishnakumar2022nasbenchsuitezero,
  title={NAS-Bench-Suite-Zero: Accelerating Research on Zero Cost Proxies},
  author={Krishnakumar, Arjun and White, Colin and Zela, Arber and Tu, Renbo and Safari, Mahmoud and Hutter, Frank},
  booktitle={NeurIPS Datasets and Benchmarks Track}, year={2022}}"""


def suite_zero_dir(source: Path, required: str) -> Path:
    """The folder holding the NASLib/Suite-Zero files: ``source/naslib_zc_suite`` or ``source``."""
    source = Path(source)
    if source.is_file():
        raise SourceError(source, f"expected the data folder (with {SUBDIR}/{required}), got a file")
    for base in (source / SUBDIR, source):
        if (base / required).exists():
            return base
    raise SourceError(source / SUBDIR / required, "file not found (is --source the data folder?)")


def clean_proxy(values) -> np.ndarray:
    """Proxy scores as float64 with NASLib's failure value ``-1e8`` as NaN."""
    arr = np.asarray(values, dtype="float64").copy()
    arr[arr == PROXY_FAILED] = np.nan
    return arr


def _number(value, path: Path, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SourceError(path, f"{where}: expected a number, got {value!r:.60}")
    return float(value)


def suite_zero_entries(path: Path, entries: object, where: str, allow_missing: bool = False) -> pd.DataFrame:
    """One Suite-Zero ``{arch: {proxy: score or {score, time}, val_accuracy, idx, arch}}`` dict as a frame.

    Index: the architecture key as published; columns ``val_accuracy`` and every proxy found
    (scores only, failure value ``-1e8`` kept: callers clean it). A proxy absent from some
    entries is an error unless ``allow_missing`` (then it is NaN there).
    """
    if not isinstance(entries, dict) or not entries:
        raise SourceError(path, f"{where}: expected a non-empty object of architecture -> results")
    rows: list[dict] = []
    for key, entry in entries.items():
        at = f"{where}, architecture {key[:60]}"
        if not isinstance(entry, dict):
            raise SourceError(path, f"{at}: expected an object of results")
        row: dict[str, float] = {}
        for field, value in entry.items():
            if field == "idx":
                continue
            if field == "arch":
                if value != key:
                    raise SourceError(path, f"{at}: its 'arch' field {value!r:.60} differs from its key")
                continue
            if field == "val_accuracy":
                row[field] = _number(value, path, f"{at}, val_accuracy")
            elif field in ALL_PROXIES:
                if isinstance(value, dict):
                    if "score" not in value:
                        raise SourceError(path, f"{at}, {field}: expected {{score, time}}")
                    value = value["score"]
                row[field] = _number(value, path, f"{at}, {field}")
            else:
                raise SourceError(path, f"{at}: unknown field {field!r}; is this a NAS-Bench-Suite-Zero file?")
        if "val_accuracy" not in row:
            raise SourceError(path, f"{at}: no val_accuracy")
        rows.append(row)
    frame = pd.DataFrame(rows, index=pd.Index(list(entries), name="arch"), dtype="float64")
    missing = frame.columns[frame.isna().any()].tolist()
    if missing and not allow_missing:
        raise SourceError(path, f"{where}: proxy {missing[0]!r} is missing for some architectures")
    return frame


def read_suite_zero(path: Path, tasks: Iterable[str], nesting: tuple[str, ...] = (),
                    allow_missing: bool = False) -> dict[str, pd.DataFrame]:
    """A Suite-Zero JSON file: ``{[nesting...], task: {arch: results}}`` → one frame per task."""
    data = read_json(path)
    for key in nesting:
        if not isinstance(data, dict) or key not in data:
            raise SourceError(path, f"expected a top-level key {key!r}; is this the right file?")
        if len(data) != 1:
            raise SourceError(path, f"unexpected keys {sorted(k for k in data if k != key)} next to {key!r}")
        data = data[key]
    tasks = list(tasks)
    if not isinstance(data, dict) or sorted(data) != sorted(tasks):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise SourceError(path, f"expected tasks {tasks}, found {found}")
    return {task: suite_zero_entries(path, data[task], f"task {task}", allow_missing) for task in tasks}


def read_ninapro_csv(base: Path, space: str, counts: dict[str, int]) -> pd.DataFrame:
    """Rows of one search space from the NinaPro / spherical CIFAR-100 / SVHN file, checked.

    The frame keeps the file's row positions as its index (line = index + 2).
    """
    path = base / NINAPRO_CSV
    df = read_csv(path, NINAPRO_COLUMNS, numeric=NINAPRO_COLUMNS[3:], rows=NINAPRO_ROWS)
    df = df[df["search_space"] == space]
    for ds in NINAPRO_DATASETS:
        sub = df[df["dataset"] == ds]
        if len(sub) != counts[ds]:
            raise SourceError(path, f"expected {counts[ds]} {space} rows for {ds}, found {len(sub)}")
        check_unique(sub["arch"], path, f"{space} {ds} architecture")
    unknown = sorted(set(df["dataset"]) - set(NINAPRO_DATASETS))
    if unknown:
        raise SourceError(path, f"unknown dataset(s) {unknown} for {space}")
    return df


def ninapro_columns(df: pd.DataFrame, key: Callable[[str], str], source: str, what: str,
                    index: pd.Index, path: Path) -> tuple[dict[str, np.ndarray], list[Column]]:
    """Label and proxy columns (aligned to ``index``) from the rows :func:`read_ninapro_csv` returned."""
    values: dict[str, np.ndarray] = {}
    columns: list[Column] = []
    for up, (ds, name) in NINAPRO_DATASETS.items():
        sub = df[df["dataset"] == up]
        ids = [key(a) for a in sub["arch"]]
        check_unique(pd.Series(ids), path, f"{up} architecture")
        pos = index.get_indexer(ids)
        if (pos < 0).any():
            raise SourceError(path, f"{up}: architecture {sub['arch'].iloc[int(np.flatnonzero(pos < 0)[0])]!r} "
                                    f"is not a valid {what}")
        col = quality_label(ds, "valid", "acc", "final-1seed", unit="percent", higher_is_better=True,
                            source=f"{source}:val_accuracy[{up}]",
                            description=f"{name} validation accuracy of the {what} trained by NAS-Bench-Suite-Zero "
                                        "(one run, final epoch of its schedule)")
        values[col.name] = scatter(len(index), pos, sub["val_accuracy"].to_numpy("float64"))
        columns.append(col)
        for p in ALL_PROXIES:
            col = proxy_score(ds, p, source=f"{source}:{p}[{up}]",
                              description=f"zero-cost proxy {p} on {name} (NAS-Bench-Suite-Zero); -1e8 failures as NaN")
            values[col.name] = scatter(len(index), pos, clean_proxy(sub[p]))
            columns.append(col)
    return values, columns


def scatter(n: int, pos: np.ndarray, vals) -> np.ndarray:
    """A length-``n`` float64 array, NaN except ``vals`` at positions ``pos``."""
    out = np.full(n, np.nan)
    out[pos] = np.asarray(vals, dtype="float64")
    return out
