"""HELP latency data (Lee et al., NeurIPS 2021): FBNet and OFA/MobileNetV3 spaces.

HELP (``HayeonLee/HELP``) published, for 5,000 architectures per search space, the measured
inference latency (milliseconds) on many device / batch-size settings, to meta-learn a
latency predictor that adapts to unseen hardware. Two spaces are imported here:

* **FBNet** (``help-fbnet``): 22 searchable layers, each one of 9 blocks in HW-NAS-Bench's
  op order ``k3_e1 k3_e1_g2 k3_e3 k3_e6 k5_e1 k5_e1_g2 k5_e3 k5_e6 skip`` (kernel size,
  expansion ratio, group count; ``hw_nas_bench_api.get_net_config``). ``metainfo.pt`` holds
  exactly HW-NAS-Bench's ``get_net_config(arch, "cifar100")`` dicts: the networks are the
  CIFAR-100 variant of the FBNet space (32x32 input, 100 classes), so labels are named
  ``cifar100__latency_ms__<device>``. 27 settings: desktop GPUs at batch 1/32/64
  (``1080ti_32`` = GTX 1080 Ti at batch 32, written ``1080ti-b32``), Xeon CPUs, phones,
  Raspberry Pi 4, and HW-NAS-Bench's FPGA / Eyeriss (ASIC) estimates.
* **OFA** (``help-ofa``): the Once-for-All MobileNetV3 space on ImageNet; per architecture
  the kernel size ``ks`` and expansion ``e`` of 20 layers (5 stages x 4), the depth ``d`` of
  each stage (2-4) and the input resolution ``r`` (128-224, step 4). As in HELP's
  ``utils.arch_encoding_ofa``, the ks/e entries of layers beyond a stage's depth are unused.
  12 settings: 4 GPUs x batch 1/32/64.

``native_id``: FBNet, the 22 block names joined by spaces (as HELP's ``arch_ops``); OFA,
``ks=..;e=..;d=..;r=..`` with comma-separated values as published (inactive layers kept,
so the id maps back to the upstream record). Both are unique upstream; a duplicate is
refused as a broken file rather than merged.

Two source formats are read and give identical tables (checked to the bit in the tests):
the CSVs ``latency/fbnet_latency_ms_27devices.csv`` / ``latency/ofa_latency_ms_12gpu_settings.csv``
and HELP's published torch files ``data/{fbnet,ofa}/`` (``arch.pt`` + ``metainfo.pt`` /
``ofa_archs.pt`` and ``latency/<device>.pt``), loaded with ``torch.load(weights_only=True)``
(``ofa_archs.pt`` stores ``r`` as numpy int64, so numpy's scalar/dtype reconstructors are
allowlisted, nothing else).
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from nabench.corpora.base import CorpusTable, Importer, Progress
from nabench.corpora.columns import Column, hardware_label
from nabench.corpora.sources import check_unique, read_csv, require_file
from nabench.errors import SourceError

N_ARCHS = 5000

#: FBNet block names in HW-NAS-Bench's op-index order (``hw_nas_bench_api.py``).
FBNET_OPS = ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip")
FBNET_LAYERS = 22

#: Upstream device column / file name -> (nabench device part, what it is).
FBNET_DEVICES: dict[str, tuple[str, str]] = {
    "1080ti_1": ("1080ti-b1", "NVIDIA GTX 1080 Ti, batch 1"),
    "1080ti_32": ("1080ti-b32", "NVIDIA GTX 1080 Ti, batch 32"),
    "1080ti_64": ("1080ti-b64", "NVIDIA GTX 1080 Ti, batch 64"),
    "2080ti_1": ("2080ti-b1", "NVIDIA RTX 2080 Ti, batch 1"),
    "2080ti_32": ("2080ti-b32", "NVIDIA RTX 2080 Ti, batch 32"),
    "2080ti_64": ("2080ti-b64", "NVIDIA RTX 2080 Ti, batch 64"),
    "essential_ph_1": ("essential-ph-1", "Essential Phone PH-1 (mobile; '_1' is the model name, not a batch size)"),
    "eyeriss": ("eyeriss", "Eyeriss ASIC (HW-NAS-Bench estimate)"),
    "fpga": ("fpga", "FPGA (HW-NAS-Bench estimate)"),
    "gold_6226": ("gold-6226", "Intel Xeon Gold 6226 CPU"),
    "gold_6240": ("gold-6240", "Intel Xeon Gold 6240 CPU"),
    "pixel2": ("pixel2", "Google Pixel 2 (mobile; whole milliseconds)"),
    "pixel3": ("pixel3", "Google Pixel 3 (mobile; from HW-NAS-Bench)"),
    "raspi4": ("raspi4", "Raspberry Pi 4 (from HW-NAS-Bench)"),
    "samsung_a50": ("samsung-a50", "Samsung Galaxy A50 (mobile; whole milliseconds)"),
    "samsung_s7": ("samsung-s7", "Samsung Galaxy S7 (mobile; whole milliseconds)"),
    "silver_4114": ("silver-4114", "Intel Xeon Silver 4114 CPU"),
    "silver_4210r": ("silver-4210r", "Intel Xeon Silver 4210R CPU"),
    "titan_rtx_1": ("titan-rtx-b1", "NVIDIA Titan RTX, batch 1"),
    "titan_rtx_32": ("titan-rtx-b32", "NVIDIA Titan RTX, batch 32"),
    "titan_rtx_64": ("titan-rtx-b64", "NVIDIA Titan RTX, batch 64"),
    "titanx_1": ("titanx-b1", "NVIDIA Titan X, batch 1"),
    "titanx_32": ("titanx-b32", "NVIDIA Titan X, batch 32"),
    "titanx_64": ("titanx-b64", "NVIDIA Titan X, batch 64"),
    "titanxp_1": ("titanxp-b1", "NVIDIA Titan Xp, batch 1"),
    "titanxp_32": ("titanxp-b32", "NVIDIA Titan Xp, batch 32"),
    "titanxp_64": ("titanxp-b64", "NVIDIA Titan Xp, batch 64"),
}
OFA_DEVICES: dict[str, tuple[str, str]] = {
    "2080ti_1": ("2080ti-b1", "NVIDIA RTX 2080 Ti, batch 1"),
    "2080ti_32": ("2080ti-b32", "NVIDIA RTX 2080 Ti, batch 32"),
    "2080ti_64": ("2080ti-b64", "NVIDIA RTX 2080 Ti, batch 64"),
    "titan_rtx_1": ("titan-rtx-b1", "NVIDIA Titan RTX, batch 1"),
    "titan_rtx_32": ("titan-rtx-b32", "NVIDIA Titan RTX, batch 32"),
    "titan_rtx_64": ("titan-rtx-b64", "NVIDIA Titan RTX, batch 64"),
    "titan_xp_1": ("titan-xp-b1", "NVIDIA Titan Xp, batch 1"),
    "titan_xp_32": ("titan-xp-b32", "NVIDIA Titan Xp, batch 32"),
    "titan_xp_64": ("titan-xp-b64", "NVIDIA Titan Xp, batch 64"),
    "v100_1": ("v100-b1", "NVIDIA V100, batch 1"),
    "v100_32": ("v100-b32", "NVIDIA V100, batch 32"),
    "v100_64": ("v100-b64", "NVIDIA V100, batch 64"),
}

OFA_KS = (3, 5, 7)
OFA_E = (3, 4, 6)
OFA_D = (2, 3, 4)
OFA_R = tuple(range(128, 225, 4))
OFA_LAYERS, OFA_STAGES = 20, 5

HELP_CITATION = """@inproceedings{lee2021help,
  title={HELP: Hardware-Adaptive Efficient Latency Prediction for NAS via Meta-Learning},
  author={Lee, Hayeon and Lee, Sewoong and Chong, Song and Hwang, Sung Ju},
  booktitle={Advances in Neural Information Processing Systems (NeurIPS)},
  year={2021}}"""
HWNAS_CITATION = """@inproceedings{li2021hwnasbench,
  title={HW-NAS-Bench: Hardware-Aware Neural Architecture Search Benchmark},
  author={Li, Chaojian and Yu, Zhongzhi and Fu, Yonggan and Zhang, Yongan and Zhao, Yang and You, Haoran and Yu, Qixuan and Wang, Yue and Lin, Yingyan},
  booktitle={International Conference on Learning Representations (ICLR)},
  year={2021}}"""


def device_part(upstream: str) -> str:
    """nabench device part of an upstream HELP device name (``1080ti_32`` -> ``1080ti-b32``)."""
    for table in (FBNET_DEVICES, OFA_DEVICES):
        if upstream in table:
            return table[upstream][0]
    raise KeyError(upstream)


def _numpy_safe_globals() -> list[Any]:
    """Globals needed to rebuild numpy scalars in a weights_only torch.load (and nothing more)."""
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    allowed: list[Any] = [
        (multiarray.scalar, "numpy.core.multiarray.scalar"),
        (multiarray.scalar, "numpy._core.multiarray.scalar"),
        np.dtype,
    ]
    for code in ("int64", "int32", "float64", "float32", "bool"):
        allowed.append(type(np.dtype(code)))  # numpy >= 1.25 pickles dtypes through these classes
    return allowed


def torch_load(path: Path) -> Any:
    """``torch.load(path, weights_only=True)`` with numpy scalars allowed; errors name the file."""
    require_file(path)
    import torch

    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            return torch.load(path, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, OSError, zipfile.BadZipFile) as e:
        msg = str(e).strip().splitlines()
        detail = next((line for line in msg if "error" in line.lower()), msg[0] if msg else type(e).__name__)
        raise SourceError(path, f"not a readable torch file of the expected kind (truncated or wrong file?): {detail[:200]}") from None


def _latency_vector(obj: Any, path: Path) -> np.ndarray:
    if hasattr(obj, "numpy"):
        obj = obj.numpy()
    try:
        values = np.asarray(obj, dtype="float64")
    except (TypeError, ValueError):
        raise SourceError(path, "expected a list of latencies (numbers)") from None
    if values.ndim != 1:
        raise SourceError(path, f"expected a flat list of latencies, got shape {values.shape}")
    if len(values) != N_ARCHS:
        raise SourceError(path, f"expected {N_ARCHS} latencies, found {len(values)} (truncated or wrong file?)")
    if not np.isfinite(values).all() or (values <= 0).any():
        bad = int(np.flatnonzero(~np.isfinite(values) | (values <= 0))[0])
        raise SourceError(path, f"latency of architecture {bad} is {values[bad]!r}, not a positive number")
    return values


def _check_latency_columns(df: pd.DataFrame, devices: list[str], path: Path) -> None:
    for d in devices:
        v = df[d].to_numpy()
        bad = ~np.isfinite(v) | (v <= 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SourceError(path, f"column {d!r} has latency {v[i]!r} on line {i + 2}, not a positive number")


class _HELPImporter(Importer):
    """Shared logic of the two HELP spaces."""

    version = "1.0.0"
    upstream = "HayeonLee/HELP@45f70eb"
    license = "MIT"
    default_subdir = "latency"
    embedded = False

    #: HELP's folder name for the space (``data/<raw_name>/``) and our CSV file name.
    raw_name: ClassVar[str]
    csv_name: ClassVar[str]
    arch_file: ClassVar[str]
    devices: ClassVar[dict[str, tuple[str, str]]]
    dataset: ClassVar[str]
    input_note: ClassVar[str]

    # -- locating the source ------------------------------------------------------------
    def locate(self, source: Path) -> tuple[str, Path]:
        """('csv', file) or ('raw', folder) for a data root, a latency/ or help_raw/ folder, or a file."""
        if source.is_file():
            if source.name == self.csv_name or source.suffix == ".csv":
                return "csv", source
            raise SourceError(source, f"expected {self.csv_name} or a folder with HELP's {self.raw_name}/ files")
        for candidate in (source / "latency" / self.csv_name, source / self.csv_name):
            if candidate.exists():
                return "csv", candidate
        for candidate in (source, source / self.raw_name, source / "help_raw" / self.raw_name,
                          source / "latency" / "help_raw" / self.raw_name):
            if (candidate / self.arch_file).exists() or (candidate.name == self.raw_name and (candidate / "latency").is_dir()):
                return "raw", candidate
        raise SourceError(
            source,
            f"no HELP {self.raw_name} data here: expected latency/{self.csv_name} (the CSV) or "
            f"latency/help_raw/{self.raw_name}/{self.arch_file} + latency/*.pt (HELP's published files)",
        )

    def read(self, source: Path, progress: Progress) -> CorpusTable:
        fmt, path = self.locate(source)
        if fmt == "csv":
            spec, latency, files = self.read_csv(path)
            source_format = f"CSV ({self.csv_name})"
            base = "latency/"
        else:
            spec, latency, files = self.read_raw(path, progress)
            source_format = f"HELP published torch files (data/{self.raw_name}/)"
            base = f"latency/help_raw/{self.raw_name}/"
        ids = self.native_ids(spec)
        check_unique(ids, path, "architecture")
        frame = pd.concat([pd.DataFrame({"native_id": ids, "space": self.space}), spec], axis=1)
        columns = self.spec_columns()
        hw = {}
        for upstream, (part, what) in self.devices.items():
            col = hardware_label(
                self.dataset, "latency_ms", part, unit="ms",
                source=f"{self.csv_name}:{upstream} | help_raw/{self.raw_name}/latency/{upstream}.pt",
                description=f"inference latency on {what}; {self.input_note}",
            )
            columns.append(col)
            hw[col.name] = latency[upstream]
        frame = pd.concat([frame, pd.DataFrame(hw, dtype="float64")], axis=1)
        return CorpusTable(
            frame=frame, columns=columns, source_format=source_format,
            source_files={base + key: p for key, p in files.items()},
            notes=self.notes(),
        )

    # -- per-space hooks -------------------------------------------------------------------
    def read_csv(self, path: Path) -> tuple[pd.DataFrame, dict[str, np.ndarray], dict[str, Path]]:
        raise NotImplementedError

    def read_raw(self, folder: Path, progress: Progress) -> tuple[pd.DataFrame, dict[str, np.ndarray], dict[str, Path]]:
        raise NotImplementedError

    def native_ids(self, spec: pd.DataFrame) -> pd.Series:
        raise NotImplementedError

    def spec_columns(self) -> list[Column]:
        raise NotImplementedError

    def notes(self) -> list[str]:
        return []

    def _read_raw_latencies(self, folder: Path, progress: Progress) -> tuple[dict[str, np.ndarray], dict[str, Path]]:
        lat_dir = folder / "latency"
        if not lat_dir.is_dir():
            raise SourceError(lat_dir, "folder not found (HELP keeps one <device>.pt per device there)")
        present = {p.stem for p in lat_dir.glob("*.pt")}
        unknown = sorted(present - set(self.devices))
        if unknown:
            raise SourceError(lat_dir, f"unknown device file(s) {[u + '.pt' for u in unknown]}; is this the {self.raw_name} folder?")
        latency, files = {}, {}
        for device in progress.track(list(self.devices), f"reading HELP {self.raw_name} latencies", total=len(self.devices)):
            p = lat_dir / f"{device}.pt"
            latency[device] = _latency_vector(torch_load(p), p)
            files[f"latency/{device}.pt"] = p
        return latency, files


class FBNetImporter(_HELPImporter):
    name = "help-fbnet"
    title = "HELP latency: FBNet space (27 device settings)"
    space = "fbnet"
    citation = HELP_CITATION + "\n" + HWNAS_CITATION
    raw_name = "fbnet"
    csv_name = "fbnet_latency_ms_27devices.csv"
    arch_file = "arch.pt"
    devices = FBNET_DEVICES
    dataset = "cifar100"
    input_note = "CIFAR-100 variant of the FBNet space (32x32 input, 100 classes), milliseconds"

    def read_csv(self, path):
        devices = list(self.devices)
        df = read_csv(path, ["arch_idx", "arch_ops", "op_idx_list", *devices], numeric=devices, rows=N_ARCHS)
        _check_latency_columns(df, devices, path)
        if not (pd.to_numeric(df["arch_idx"], errors="coerce").to_numpy() == np.arange(N_ARCHS)).all():
            raise SourceError(path, f"arch_idx must be 0..{N_ARCHS - 1} in order (HELP's architecture index)")
        archs = []
        for line, (names, idx) in enumerate(zip(df["arch_ops"], df["op_idx_list"]), start=2):
            try:
                ops = [int(t) for t in str(idx).split()]
            except ValueError:
                raise SourceError(path, f"op_idx_list on line {line} is not a list of integers: {idx!r}") from None
            self._check_arch(ops, str(names).split(), path, f"line {line}")
            archs.append(ops)
        return self._spec(archs), {d: df[d].to_numpy(dtype="float64") for d in devices}, {self.csv_name: path}

    def read_raw(self, folder, progress):
        arch_path, meta_path = folder / "arch.pt", folder / "metainfo.pt"
        archs = torch_load(arch_path)
        if not isinstance(archs, list) or len(archs) != N_ARCHS:
            raise SourceError(arch_path, f"expected a list of {N_ARCHS} architectures, found {type(archs).__name__} of length {len(archs) if hasattr(archs, '__len__') else '?'}")
        meta = torch_load(meta_path)
        if not isinstance(meta, dict) or "arch" not in meta:
            raise SourceError(meta_path, "expected a dict with 'dataset', 'num_classes', 'arch'")
        if meta.get("dataset") != "cifar100" or meta.get("num_classes") != 100:
            raise SourceError(meta_path, f"expected the CIFAR-100 FBNet configuration, found dataset={meta.get('dataset')!r}")
        if not isinstance(meta["arch"], list) or len(meta["arch"]) != N_ARCHS:
            raise SourceError(meta_path, f"expected {N_ARCHS} architecture configs")
        clean = []
        for i, (ops, cfg) in enumerate(zip(archs, meta["arch"])):
            if not isinstance(ops, list) or not all(isinstance(o, int) for o in ops):
                raise SourceError(arch_path, f"architecture {i} is not a list of op indices: {ops!r:.80}")
            if not isinstance(cfg, dict) or cfg.get("op_idx_list") != ops:
                raise SourceError(meta_path, f"architecture {i} disagrees with arch.pt")
            self._check_arch(ops, list(cfg.get("arch_str", [])), meta_path, f"architecture {i}")
            clean.append(ops)
        latency, files = self._read_raw_latencies(folder, progress)
        files = {"arch.pt": arch_path, "metainfo.pt": meta_path, **files}
        return self._spec(clean), latency, files

    @staticmethod
    def _check_arch(ops: list[int], names: list[str], path: Path, where: str) -> None:
        if len(ops) != FBNET_LAYERS or any(not 0 <= o < len(FBNET_OPS) for o in ops):
            raise SourceError(path, f"{where}: expected {FBNET_LAYERS} op indices in 0..{len(FBNET_OPS) - 1}, got {ops}")
        if names != [FBNET_OPS[o] for o in ops]:
            raise SourceError(path, f"{where}: block names {names} do not match op indices {ops} (HW-NAS-Bench op order)")

    @staticmethod
    def _spec(archs: list[list[int]]) -> pd.DataFrame:
        return pd.DataFrame({
            "arch_ops": [" ".join(FBNET_OPS[o] for o in ops) for ops in archs],
            "op_idx_list": [" ".join(map(str, ops)) for ops in archs],
            "help_arch_idx": np.arange(len(archs), dtype="int64"),
        })

    def native_ids(self, spec):
        return spec["arch_ops"].rename("native_id")

    def spec_columns(self):
        return [
            Column(name="arch_ops", kind="spec", dtype="str",
                   description="block of each of the 22 searchable layers, space separated (k<kernel>_e<expansion>[_g2] or skip)"),
            Column(name="op_idx_list", kind="spec", dtype="str",
                   description="the same as HW-NAS-Bench op indices (0=k3_e1 1=k3_e1_g2 2=k3_e3 3=k3_e6 4=k5_e1 5=k5_e1_g2 6=k5_e3 7=k5_e6 8=skip)"),
            Column(name="help_arch_idx", kind="info", dtype="int64",
                   description="position in HELP's arch.pt / latency lists (HELP meta-trains on the first 4,000)"),
        ]

    def notes(self):
        return [
            "Networks are the CIFAR-100 variant of the FBNet space (metainfo.pt: dataset cifar100, 100 classes; 32x32 input).",
            "eyeriss, fpga, pixel3, raspi4 come from HW-NAS-Bench (FBNet-space per-op lookup tables summed), not HELP's own measurements.",
            "Mobile-phone latencies (pixel2, samsung_a50, samsung_s7, essential_ph_1) are whole milliseconds as published.",
        ]


class OFAImporter(_HELPImporter):
    name = "help-ofa"
    title = "HELP latency: OFA MobileNetV3 space (12 GPU settings)"
    space = "ofa-mbv3"
    citation = HELP_CITATION
    raw_name = "ofa"
    csv_name = "ofa_latency_ms_12gpu_settings.csv"
    arch_file = "ofa_archs.pt"
    devices = OFA_DEVICES
    dataset = "imagenet"
    input_note = "ImageNet network at the row's input resolution r x r, milliseconds"

    def read_csv(self, path):
        devices = list(self.devices)
        df = read_csv(path, ["arch_idx", "ks", "e", "d", "r", *devices], numeric=devices, rows=N_ARCHS)
        _check_latency_columns(df, devices, path)
        if not (pd.to_numeric(df["arch_idx"], errors="coerce").to_numpy() == np.arange(N_ARCHS)).all():
            raise SourceError(path, f"arch_idx must be 0..{N_ARCHS - 1} in order (HELP's architecture index)")
        archs = []
        for line, (ks, e, d, r) in enumerate(zip(df["ks"], df["e"], df["d"], df["r"]), start=2):
            try:
                arch = {"ks": [int(t) for t in str(ks).split()], "e": [int(t) for t in str(e).split()],
                        "d": [int(t) for t in str(d).split()], "r": int(r)}
            except ValueError:
                raise SourceError(path, f"line {line}: ks/e/d/r are not integers") from None
            self._check_arch(arch, path, f"line {line}")
            archs.append(arch)
        return self._spec(archs), {d: df[d].to_numpy(dtype="float64") for d in devices}, {self.csv_name: path}

    def read_raw(self, folder, progress):
        arch_path = folder / "ofa_archs.pt"
        meta = torch_load(arch_path)
        if not isinstance(meta, dict) or not isinstance(meta.get("arch"), list):
            raise SourceError(arch_path, "expected a dict with 'dataset', 'num_classes', 'arch'")
        if meta.get("dataset") != "imagenet":
            raise SourceError(arch_path, f"expected the ImageNet OFA configuration, found dataset={meta.get('dataset')!r}")
        if len(meta["arch"]) != N_ARCHS:
            raise SourceError(arch_path, f"expected {N_ARCHS} architectures, found {len(meta['arch'])}")
        archs = []
        for i, a in enumerate(meta["arch"]):
            try:
                arch = {"ks": [int(v) for v in a["ks"]], "e": [int(v) for v in a["e"]], "d": [int(v) for v in a["d"]], "r": int(a["r"])}
            except (KeyError, TypeError, ValueError):
                raise SourceError(arch_path, f"architecture {i} is not a {{ks, e, d, r}} config: {a!r:.80}") from None
            self._check_arch(arch, arch_path, f"architecture {i}")
            archs.append(arch)
        latency, files = self._read_raw_latencies(folder, progress)
        return self._spec(archs), latency, {"ofa_archs.pt": arch_path, **files}

    @staticmethod
    def _check_arch(a: dict, path: Path, where: str) -> None:
        ok = (len(a["ks"]) == OFA_LAYERS and len(a["e"]) == OFA_LAYERS and len(a["d"]) == OFA_STAGES
              and set(a["ks"]) <= set(OFA_KS) and set(a["e"]) <= set(OFA_E) and set(a["d"]) <= set(OFA_D)
              and a["r"] in OFA_R)
        if not ok:
            raise SourceError(path, f"{where}: not an OFA MobileNetV3 config (20 ks in {OFA_KS}, 20 e in {OFA_E}, "
                                    f"5 d in {OFA_D}, r in 128..224 step 4): {a}")

    @staticmethod
    def _spec(archs: list[dict]) -> pd.DataFrame:
        return pd.DataFrame({
            "ks": [" ".join(map(str, a["ks"])) for a in archs],
            "e": [" ".join(map(str, a["e"])) for a in archs],
            "d": [" ".join(map(str, a["d"])) for a in archs],
            "r": np.array([a["r"] for a in archs], dtype="int64"),
            "active_layers": [_active(a) for a in archs],
            "help_arch_idx": np.arange(len(archs), dtype="int64"),
        })

    def native_ids(self, spec):
        return pd.Series([
            f"ks={ks.replace(' ', ',')};e={e.replace(' ', ',')};d={d.replace(' ', ',')};r={r}"
            for ks, e, d, r in zip(spec["ks"], spec["e"], spec["d"], spec["r"])
        ], name="native_id")

    def spec_columns(self):
        return [
            Column(name="ks", kind="spec", dtype="str", description="kernel size (3/5/7) of each of the 20 layers (5 stages x 4), space separated"),
            Column(name="e", kind="spec", dtype="str", description="expansion ratio (3/4/6) of each of the 20 layers, space separated"),
            Column(name="d", kind="spec", dtype="str", description="depth (2-4 active layers) of each of the 5 stages, space separated"),
            Column(name="r", kind="spec", dtype="int64", unit="pixels", description="input resolution r (image is r x r), 128-224 step 4"),
            Column(name="active_layers", kind="spec", dtype="str",
                   description="k<ks>_e<e> of the layers that exist given d, stages separated by '|' (inactive ks/e dropped, as HELP's encoding zeroes them)"),
            Column(name="help_arch_idx", kind="info", dtype="int64",
                   description="position in HELP's ofa_archs.pt / latency lists (HELP meta-trains on the first 4,000)"),
        ]

    def notes(self):
        return [
            "ks/e list all 20 layers; entries of layers beyond a stage's depth d are unused (see active_layers). Architectures are unique both as published and after dropping them.",
            "Latency is measured at the row's input resolution r (128-224), not at a fixed 224.",
        ]


def _active(a: dict) -> str:
    """The layers that exist given the stage depths, e.g. ``k7_e6,k5_e4|k5_e6,...``."""
    stages = []
    for s, depth in enumerate(a["d"]):
        stages.append(",".join(f"k{a['ks'][i]}_e{a['e'][i]}" for i in range(4 * s, 4 * s + depth)))
    return "|".join(stages)


__all__ = ["FBNetImporter", "OFAImporter", "device_part", "torch_load", "FBNET_OPS"]
