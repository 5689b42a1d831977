"""NAS-Bench-101 (Ying et al., ICML 2019): 423,624 unique cells trained on CIFAR-10.

Every cell of the NAS-Bench-101 space (a DAG of at most 7 vertices and 9 edges; inner
vertices conv3x3-bn-relu, conv1x1-bn-relu or maxpool3x3) was trained 3 times at each of 4,
12, 36 and 108 epochs on CIFAR-10 (train 40k / validation 10k / test 10k) on TPUs. Cells are
keyed by the benchmark's *module hash* of the pruned graph (:mod:`nabench.spaces.nb101`);
isomorphic cells share one hash. ``native_id`` is that hash.

Two source formats are read (``--source`` picks one; it is auto-detected):

* the official ``nasbench_only108.tfrecord`` / ``nasbench_full.tfrecord``
  (:mod:`nabench.formats.nasbench101`): one record per training run. Labels are the mean over
  the repeats of the *final* train / validation / test accuracy at every epoch budget present
  (``cifar10__valid_acc__108ep`` ...), with the trainable parameter count and the mean
  training time. Accuracies are stored in percent (upstream stores fractions) so that
  both formats use one unit.
* the data folder (NAS-Bench-Suite-Zero snapshot): ``zc_nasbench101_500archs.json`` (500
  sampled cells with 11 zero-cost proxies and ``val_accuracy``) and ``nb101_zen_10250.csv``
  (zen only). NASLib's ``val_accuracy`` is ``NASBench.query(spec)['validation_accuracy'] * 100``
  at 108 epochs, and ``query`` returns *one randomly drawn repeat*, not the mean; it is stored
  as ``cifar10__valid_acc__108ep-1seed``. NASLib writes a cell as one flat tuple: the full
  n x n adjacency matrix row-major, then n op indices into (input, output, maxpool3x3,
  conv1x1-bn-relu, conv3x3-bn-relu) (``naslib/search_spaces/nasbench101/conversions.py``,
  ``convert_spec_to_tuple``). Suite-Zero's tuples are *unpruned* random 7-vertex matrices, so
  several tuples can be one NB101 cell: the row keeps the first published tuple's values.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from nabench.corpora.base import CorpusTable, Importer, Progress
from nabench.corpora.columns import Column, proxy_score, quality_label
from nabench.corpora.sources import check_unique, read_csv
from nabench.errors import SourceError
from nabench.formats import nasbench101 as nbfmt
from nabench.formats.suite_zero import CITATION as SUITE_ZERO_CITATION
from nabench.formats.suite_zero import (
    DETERMINISTIC_PROXIES,
    JSON_SUFFIX,
    SUBDIR,
    clean_proxy,
    read_suite_zero,
    suite_zero_dir,
)
from nabench.spaces import nb101

JSON_FILE = "zc_nasbench101_500archs.json"
JSON_PROXIES = ("epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov", "l2_norm", "params", "plain", "snip",
                "synflow")
N_JSON = 500
ZEN_CSV = "nb101_zen_10250.csv"
ZEN_COLUMNS = ("search_space", "dataset", "arch", "zen")
ZEN_ROWS = 10250
N_REPEATS = 3

SPEC_COLUMNS = [
    Column("module_adjacency", "spec", "str", "pruned adjacency matrix, row-major '0'/'1' string of length V*V "
                                              "(upstream raw_adjacency)"),
    Column("module_operations", "spec", "str", "comma-joined vertex labels, input first and output last "
                                               "(upstream raw_operations)"),
    Column("n_vertices", "spec", "int64", "vertices of the pruned cell (2-7)"),
    Column("n_edges", "spec", "int64", "edges of the pruned cell (at most 9)"),
]


def _spec_frame(hashes: list[str], cells: dict[str, nb101.Cell], space: str) -> pd.DataFrame:
    return pd.DataFrame({
        "native_id": pd.Series(hashes, dtype="str"),
        "space": space,
        "module_adjacency": pd.Series([cells[h].adjacency_str() for h in hashes], dtype="str"),
        "module_operations": pd.Series([cells[h].ops_str() for h in hashes], dtype="str"),
        "n_vertices": np.array([cells[h].n_vertices for h in hashes], dtype="int64"),
        "n_edges": np.array([cells[h].n_edges for h in hashes], dtype="int64"),
    })


class NB101Importer(Importer):
    name = "nb101"
    version = "1.0.0"
    title = "NAS-Bench-101"
    space = "nb101"
    upstream = ("google-research/nasbench (nasbench_only108.tfrecord, nasbench_full.tfrecord); NAS-Bench-Suite-Zero "
                "via automl/NASLib (naslib/data zc_nasbench101.json, run/results nb101 zen zip)")
    license = "Apache-2.0"
    citation = """@inproceedings{ying2019nasbench101,
  title={NAS-Bench-101: Towards Reproducible Neural Architecture Search},
  author={Ying, Chris and Klein, Aaron and Christiansen, Eric and Real, Esteban and Murphy, Kevin and Hutter, Frank},
  booktitle={International Conference on Machine Learning (ICML)}, pages={7105--7114}, year={2019}}
""" + SUITE_ZERO_CITATION
    default_subdir = SUBDIR

    def read(self, source: Path, progress: Progress) -> CorpusTable:
        source = Path(source)
        if source.is_dir():
            return self.read_suite_zero(source, progress)
        if nbfmt.looks_like_tfrecord(source):
            return self.read_tfrecord(source, progress)
        raise SourceError(source, "neither a NAS-Bench-101 .tfrecord file (no valid TFRecord header) nor a data "
                                  f"folder with {SUBDIR}/{JSON_FILE}")

    # -- official tfrecord ---------------------------------------------------------------------
    def read_tfrecord(self, path: Path, progress: Progress) -> CorpusTable:
        cells: dict[str, nb101.Cell] = {}
        params: dict[str, int] = {}
        # (hash, epochs) -> [runs, sum train acc, sum valid acc, sum test acc, sum training time]:
        # sums, not lists, so the 5M runs of nasbench_full.tfrecord fit in memory.
        sums: dict[tuple[str, int], list[float]] = {}
        n_records = 0
        for run in progress.track(nbfmt.iter_runs(path), f"reading {path.name}"):
            n_records += 1
            h = run.module_hash
            if h in cells:
                if cells[h] != run.cell:
                    raise SourceError(path, f"record at byte {run.offset}: hash {h} appears with two different cells")
                if params[h] != run.trainable_parameters:
                    raise SourceError(path, f"record at byte {run.offset}: hash {h} has {run.trainable_parameters} "
                                            f"trainable parameters here and {params[h]} in an earlier record")
            else:
                cells[h] = run.cell
                params[h] = run.trainable_parameters
            f = run.final
            acc = sums.setdefault((h, run.epochs), [0, 0.0, 0.0, 0.0, 0.0])
            acc[0] += 1
            acc[1] += f.train_accuracy
            acc[2] += f.validation_accuracy
            acc[3] += f.test_accuracy
            acc[4] += f.training_time
        if not n_records:
            raise SourceError(path, "no records: empty TFRecord file")
        hashes = sorted(cells)
        budgets = sorted({e for _, e in sums})
        frame = _spec_frame(hashes, cells, self.space)
        frame["trainable_params"] = np.array([params[h] for h in hashes], dtype="int64")
        columns = SPEC_COLUMNS + [Column("trainable_params", "info", "int64",
                                         "trainable parameters of the network built from the cell",
                                         source=f"{path.name}:ModelMetrics.trainable_parameters", unit="count")]
        odd = 0
        src = path.name
        for e in budgets:
            got = [sums.get((h, e)) for h in hashes]
            odd += sum(1 for g in got if g and g[0] != N_REPEATS)

            def mean(k: int, scale: float, got=got) -> np.ndarray:
                return np.array([scale * g[k] / g[0] if g else np.nan for g in got], dtype="float64")

            for k, (split, field) in enumerate((("train", "train_accuracy"), ("valid", "validation_accuracy"),
                                                ("test", "test_accuracy")), start=1):
                col = quality_label("cifar10", split, "acc", f"{e}ep", unit="percent", higher_is_better=True,
                                    source=f"{src}:evaluation_data[2].{field}",
                                    description=f"CIFAR-10 {split} accuracy at the end of {e}-epoch training, "
                                                f"mean over the repeats (upstream fraction x 100)")
                frame[col.name] = mean(k, 100.0)
                columns.append(col)
            col = Column(f"cifar10__train_time_s__{e}ep", "info", "float64",
                         f"training time in seconds of the {e}-epoch run (TPU v2), mean over the repeats",
                         source=f"{src}:evaluation_data[2].training_time", dataset="cifar10", metric="train_time_s",
                         fidelity=f"{e}ep", unit="s", higher_is_better=False)
            frame[col.name] = mean(4, 1.0)
            columns.append(col)
        notes = [f"Labels are means over the repeats of each (cell, epoch budget); upstream has {N_REPEATS} repeats.",
                 "Accuracies are percent (upstream fractions x 100)."]
        if odd:
            notes.append(f"{odd} (cell, epoch budget) pairs do not have exactly {N_REPEATS} repeats.")
        return CorpusTable(frame=frame, columns=columns, source_format="NAS-Bench-101 tfrecord",
                           source_files={path.name: path}, notes=notes)

    # -- NAS-Bench-Suite-Zero snapshot ----------------------------------------------------------
    def read_suite_zero(self, source: Path, progress: Progress) -> CorpusTable:
        base = suite_zero_dir(source, JSON_FILE)
        jpath, zpath = base / JSON_FILE, base / ZEN_CSV
        cells: dict[str, nb101.Cell] = {}
        first_tuple: dict[str, str] = {}
        n_tuples: dict[str, int] = defaultdict(int)

        def hash_all(path: Path, texts, what: str) -> list[str]:
            """Module hashes of published NASLib tuples; the same tuple twice is an error."""
            out, seen = [], set()
            for text in progress.track(texts, f"hashing {what}", total=len(texts)):
                try:
                    values = nb101.parse_tuple_text(text)
                    cell = nb101.prune(*nb101.from_naslib_tuple(values))
                except ValueError as e:
                    raise SourceError(path, f"architecture {text[:50]}...: {e}") from None
                canonical = str(values)
                if canonical in seen:
                    raise SourceError(path, f"duplicate architecture tuple {canonical[:60]}...")
                seen.add(canonical)
                h = nb101.cell_hash(cell)
                cells.setdefault(h, cell)
                first_tuple.setdefault(h, canonical)
                n_tuples[h] += 1
                out.append(h)
            return out

        frame = read_suite_zero(jpath, ["cifar10"], nesting=("nasbench101",))["cifar10"]
        if len(frame) != N_JSON:
            raise SourceError(jpath, f"expected {N_JSON} architectures, found {len(frame)}")
        missing = sorted(set(JSON_PROXIES) - set(frame.columns))
        if missing:
            raise SourceError(jpath, f"missing proxies {missing}")
        jhash = hash_all(jpath, list(frame.index), JSON_FILE)
        keep = ~pd.Series(jhash).duplicated().to_numpy()  # first published tuple of each cell

        zen = read_csv(zpath, ZEN_COLUMNS, numeric=("zen",), rows=ZEN_ROWS)
        bad = zen[(zen["search_space"] != "nasbench101") | (zen["dataset"] != "cifar10")]
        if len(bad):
            raise SourceError(zpath, f"unexpected row {bad.iloc[0]['search_space']}/{bad.iloc[0]['dataset']}")
        zhash = hash_all(zpath, list(zen["arch"]), ZEN_CSV)
        check_unique(pd.Series(zhash), zpath, "NB101 cell (two tuples with one module hash)")

        hashes = sorted(cells)
        pos = {h: i for i, h in enumerate(hashes)}
        n = len(hashes)
        out = _spec_frame(hashes, cells, self.space)
        out["naslib_tuple"] = pd.Series([first_tuple[h] for h in hashes], dtype="str")
        out["naslib_n_tuples"] = np.array([n_tuples[h] for h in hashes], dtype="int64")
        columns = SPEC_COLUMNS + [
            Column("naslib_tuple", "info", "str", "the first NASLib flat tuple (matrix row-major + op indices) "
                                                  "published for this cell; its values fill the Suite-Zero columns"),
            Column("naslib_n_tuples", "info", "int64", "how many published NASLib tuples (Suite-Zero JSON and zen "
                                                       "CSV) denote this cell"),
        ]

        def scatter(hs: list[str], vals, mask=None) -> np.ndarray:
            arr = np.full(n, np.nan)
            vals = np.asarray(vals, dtype="float64")
            for j, (h, v) in enumerate(zip(hs, vals)):
                if mask is None or mask[j]:
                    arr[pos[h]] = v
            return arr

        jsrc, zsrc = f"{SUBDIR}/{JSON_FILE}", f"{SUBDIR}/{ZEN_CSV}"
        col = quality_label("cifar10", "valid", "acc", "108ep-1seed", unit="percent", higher_is_better=True,
                            source=f"{jsrc}:val_accuracy",
                            description="CIFAR-10 validation accuracy after 108 epochs of ONE randomly drawn repeat "
                                        "(NASBench.query semantics, x 100), as NASLib queried it")
        out[col.name] = scatter(jhash, frame["val_accuracy"], keep)
        columns.append(col)
        proxies = [(p if p in DETERMINISTIC_PROXIES else f"{p}_{JSON_SUFFIX}", p, jhash, clean_proxy(frame[p]), keep,
                    jsrc, "NAS-Bench-Suite-Zero JSON, first tuple of each cell") for p in JSON_PROXIES]
        proxies.append(("zen", "zen", zhash, clean_proxy(zen["zen"]), None, zsrc, "NASLib full-space release"))
        for name, p, hs, vals, mask, src, who in sorted(proxies, key=lambda x: x[0]):
            col = proxy_score("cifar10", name, source=f"{src}:{p}",
                              description=f"zero-cost proxy {p} on CIFAR-10 ({who}); -1e8 failures as NaN")
            out[col.name] = scatter(hs, vals, mask)
            columns.append(col)
        dup = int((~keep).sum())
        return CorpusTable(
            frame=out, columns=columns, source_format="NAS-Bench-Suite-Zero JSON + NASLib zen CSV",
            source_files={jsrc: jpath, zsrc: zpath},
            notes=[
                ("cifar10__valid_acc__108ep-1seed is one randomly drawn repeat (NASLib/NASBench.query), not the "
                "mean of the 3 repeats the tfrecord format gives."),
                (f"Suite-Zero's {N_JSON} tuples are unpruned random matrices: {dup} of them repeat an NB101 cell already "
                "seen (isomorphic or reducing to the same pruned cell); rows keep the first tuple's values."),
                "The Suite-Zero JSON and the zen CSV mostly cover different cells.",
                "NASLib's failure value -1e8 is stored as NaN.",
            ],
        )
