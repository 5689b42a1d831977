"""Image batches for data-dependent proxies, with a record of exactly what was used.

Sources, in the order :func:`batch` tries them:

- ``images/`` of the nabench data folder (``$NABENCH_DATA``): real CIFAR-10 training/test and
  CIFAR-100 test images as ``.npz`` (``x`` uint8 NHWC, ``y`` int64);
- a torchvision CIFAR folder (``cifar-10-batches-py/`` or ``cifar-100-python/``) given as
  ``root``;
- ImageNet16-120 pickles (``train_data_batch_*``, ``val_data``) given as ``root``. Without
  them, ImageNet16-120 uses a **stand-in**: CIFAR-10 training images average-pooled to 16×16,
  labelled with their CIFAR-10 classes (``BatchInfo.stand_in`` is True and says so).

Pickles are read with a restricted unpickler that allows only the NumPy array globals, never
arbitrary code. Preprocessing follows NASLib's zero-cost setup (the training transform):
random crop with 4-pixel zero padding, random horizontal flip, per-channel normalization; the
draw of images and augmentations is fixed by ``seed``.
"""

from __future__ import annotations

import io
import os
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nabench.errors import NabenchError, SourceError

MEAN_STD = {
    "cifar10": ((0.49139968, 0.48215827, 0.44653124), (0.24703233, 0.24348505, 0.26158768)),
    "cifar100": ((0.5070751, 0.48654887, 0.44091785), (0.26733429, 0.25643846, 0.27615047)),
    "ImageNet16-120": ((122.68 / 255, 116.66 / 255, 104.00 / 255), (63.22 / 255, 61.26 / 255, 65.09 / 255)),
}
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
NPZ = {("cifar10", "train"): "cifar10_data_batch_1_first1102.npz", ("cifar10", "test"): "cifar10_test_first1017.npz",
       ("cifar100", "test"): "cifar100_test_first916.npz"}


class DataError(NabenchError):
    """No images where they were asked for, or an unreadable image file."""


@dataclass(frozen=True)
class BatchInfo:
    """What a batch is: enough to reproduce it and to report it next to a result."""

    dataset: str
    source: str
    split: str
    batch_size: int
    seed: int
    preprocessing: str
    stand_in: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _ArrayUnpickler(pickle.Unpickler):
    """Only NumPy arrays/dtypes (and builtins-free containers) may be rebuilt."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        return super().find_class(module, name)


def read_pickle_dict(path: Path) -> dict:
    """A CIFAR / ImageNet16 batch file (a pickled dict of arrays), keys decoded to ``str``."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(path, "file not found")
    try:
        with open(path, "rb") as f:
            obj = _ArrayUnpickler(io.BufferedReader(f), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise SourceError(path, f"not a readable dataset batch pickle: {e}") from None
    if not isinstance(obj, dict):
        raise SourceError(path, f"expected a pickled dict, got {type(obj).__name__}")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _rows_to_nhwc(data: np.ndarray, side: int, path: Path) -> np.ndarray:
    data = np.asarray(data, dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * side * side:
        raise SourceError(path, f"'data' has shape {data.shape}, expected (N, {3 * side * side})")
    return data.reshape(-1, 3, side, side).transpose(0, 2, 3, 1)


def load_cifar_folder(root: str | Path, dataset: str = "cifar10", split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8 NHWC) and labels from a torchvision CIFAR folder (the folder or its parent)."""
    root = Path(root)
    sub = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}[dataset]
    folder = root / sub if (root / sub).is_dir() else root
    if dataset == "cifar10":
        files = [folder / f"data_batch_{i}" for i in range(1, 6)] if split == "train" else [folder / "test_batch"]
        key = "labels"
    else:
        files, key = [folder / ("train" if split == "train" else "test")], "fine_labels"
    files = [f for f in files if f.is_file()]
    if not files:
        raise DataError(f"{folder}: no {dataset} {split} batch files (expected torchvision's {sub} layout)")
    xs, ys = [], []
    for f in files:
        d = read_pickle_dict(f)
        if "data" not in d or key not in d:
            raise SourceError(f, f"missing 'data' or '{key}'")
        xs.append(_rows_to_nhwc(d["data"], 32, f))
        ys.append(np.asarray(d[key], dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def load_imagenet16(root: str | Path, split: str = "train", num_classes: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """ImageNet16 pickles (``train_data_batch_1..10`` / ``val_data``), keeping labels 1..num_classes
    and returning them 0-based, as NAS-Bench-201's ImageNet16-120 does."""
    root = Path(root)
    names = [f"train_data_batch_{i}" for i in range(1, 11)] if split == "train" else ["val_data"]
    files = [root / n for n in names if (root / n).is_file()]
    if not files:
        raise DataError(f"{root}: no ImageNet16 {split} pickles ({names[0]} ...)")
    xs, ys = [], []
    for f in files:
        d = read_pickle_dict(f)
        if "data" not in d or "labels" not in d:
            raise SourceError(f, "missing 'data' or 'labels'")
        y = np.asarray(d["labels"], dtype=np.int64)
        keep = (y >= 1) & (y <= num_classes)
        xs.append(_rows_to_nhwc(d["data"], 16, f)[keep])
        ys.append(y[keep] - 1)
    return np.concatenate(xs), np.concatenate(ys)


def load_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as d:
            return np.asarray(d["x"], dtype=np.uint8), np.asarray(d["y"], dtype=np.int64)
    except (OSError, KeyError, ValueError) as e:
        raise SourceError(path, f"not a readable image .npz ({e})") from None


def data_root() -> Path:
    env = os.environ.get("NABENCH_DATA")
    if not env:
        raise DataError("set NABENCH_DATA to the nabench data folder (with images/) or pass root=")
    return Path(env)


def _preprocess(x: np.ndarray, dataset: str, rng: np.random.Generator, augment: bool) -> torch.Tensor:
    x = x.astype(np.float32) / 255.0
    if augment:
        n, h, w, _ = x.shape
        padded = np.pad(x, ((0, 0), (4, 4), (4, 4), (0, 0)))
        dy, dx = rng.integers(0, 9, n), rng.integers(0, 9, n)
        flip = rng.random(n) < 0.5
        out = np.empty_like(x)
        for i in range(n):
            img = padded[i, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
            out[i] = img[:, ::-1] if flip[i] else img
        x = out
    mean, std = MEAN_STD[dataset]
    x = (x - np.array(mean, np.float32)) / np.array(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def batch(dataset: str = "cifar10", *, batch_size: int = 64, seed: int = 0, split: str = "train",
          augment: bool = True, root: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor, BatchInfo]:
    """One batch ``(x, y, info)``: ``batch_size`` images drawn without replacement with ``seed``."""
    if dataset not in NUM_CLASSES:
        raise DataError(f"unknown dataset {dataset!r} (known: {', '.join(NUM_CLASSES)})")
    stand_in = False
    if root is not None:
        if dataset == "ImageNet16-120":
            x, y = load_imagenet16(root, split)
        else:
            x, y = load_cifar_folder(root, dataset, split)
        source = str(root)
    elif dataset == "ImageNet16-120":
        path = data_root() / "images" / NPZ[("cifar10", "train")]
        x, y = load_npz(path)
        x = x.reshape(-1, 16, 2, 16, 2, 3).astype(np.float32).mean(axis=(2, 4)).round().astype(np.uint8)
        source, stand_in = f"{path} (STAND-IN for ImageNet16-120: CIFAR-10 images pooled to 16x16)", True
    else:
        key = (dataset, split) if (dataset, split) in NPZ else (dataset, "test")
        path = data_root() / "images" / NPZ[key]
        if not path.is_file():
            raise DataError(f"{path}: image file missing; pass root= with a torchvision CIFAR folder")
        x, y = load_npz(path)
        source, split = str(path), key[1]
    if batch_size > len(x):
        raise DataError(f"batch_size {batch_size} exceeds the {len(x)} images of {source}")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(x), batch_size, replace=False))
    tensor = _preprocess(x[idx], dataset, rng, augment)
    prep = ("random crop 4px pad + horizontal flip + normalize" if augment else "normalize") + f" {MEAN_STD[dataset]}"
    info = BatchInfo(dataset, source, split, batch_size, seed, prep, stand_in)
    return tensor, torch.from_numpy(y[idx]), info
