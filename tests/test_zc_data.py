"""Image batches: the real images, torchvision CIFAR folders, ImageNet16 pickles (read safely)."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from nabench.errors import SourceError
from nabench.zc import data


def test_real_cifar10_batch_is_seeded_and_documented(data_root):
    x, y, info = data.batch("cifar10", batch_size=64, seed=0)
    x2, y2, _ = data.batch("cifar10", batch_size=64, seed=0)
    x3, _, _ = data.batch("cifar10", batch_size=64, seed=1)
    assert x.shape == (64, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.equal(x, x2) and torch.equal(y, y2) and not torch.equal(x, x3)
    assert abs(float(x.mean())) < 0.5 and 0.5 < float(x.std()) < 1.5  # normalized
    assert info.split == "train" and "cifar10_data_batch_1" in info.source and info.seed == 0
    assert "random crop" in info.preprocessing and not info.stand_in
    _, y100, info100 = data.batch("cifar100", batch_size=32, seed=0)
    assert info100.split == "test" and int(y100.max()) < 100


def test_imagenet16_without_images_says_it_is_a_stand_in():
    x, y, info = data.batch("ImageNet16-120", batch_size=16, seed=0)
    assert x.shape == (16, 3, 16, 16) and info.stand_in and "STAND-IN" in info.source


def _dump(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def test_torchvision_cifar_folder(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in (1, 2):
        _dump(folder / f"data_batch_{i}", {b"data": rng.integers(0, 255, (40, 3072), dtype=np.uint8),
                                           b"labels": list(rng.integers(0, 10, 40))})
    x, y = data.load_cifar_folder(tmp_path, "cifar10", "train")
    assert x.shape == (80, 32, 32, 3) and len(y) == 80
    xb, yb, info = data.batch("cifar10", batch_size=64, seed=3, root=tmp_path)
    assert xb.shape == (64, 3, 32, 32) and info.source == str(tmp_path)


def test_imagenet16_pickles_keep_120_classes_zero_based(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.array([1, 120, 121, 500, 5] * 8)
    _dump(tmp_path / "train_data_batch_1", {"data": rng.integers(0, 255, (40, 768), dtype=np.uint8), "labels": labels})
    x, y = data.load_imagenet16(tmp_path, "train")
    assert x.shape == (24, 16, 16, 3) and set(y.tolist()) == {0, 119, 4}
    xb, _, info = data.batch("ImageNet16-120", batch_size=8, seed=0, root=tmp_path)
    assert xb.shape == (8, 3, 16, 16) and not info.stand_in


def test_malicious_pickle_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    _dump(tmp_path / "test_batch", {b"data": Evil(), b"labels": [0]})
    with pytest.raises(SourceError, match="refusing to load global"):
        data.read_pickle_dict(tmp_path / "test_batch")
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(data.DataError, match="no cifar100"):
        data.load_cifar_folder(tmp_path, "cifar100", "train")
    with pytest.raises(data.DataError, match="exceeds"):
        data.batch("cifar100", batch_size=5000)
