"""Fixtures: tiny CIFAR-10 / CIFAR-100 folders in the official python format.

Images are class-dependent (a class-specific mean colour plus noise), so that a model can
learn them in one epoch and accuracy numbers mean something.
"""
from __future__ import annotations

import dataclasses
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def _images(labels: np.ndarray, num_classes: int, rng) -> np.ndarray:
    """Flattened official layout: uint8 (N, 3072), channel-major (R plane, G plane, B plane)."""
    palette = np.random.default_rng(123).integers(30, 225, size=(num_classes, 3))
    base = palette[labels][:, :, None].repeat(1024, axis=2)  # (N, 3, 1024)
    noisy = base + rng.normal(0, 25, size=base.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8).reshape(len(labels), 3072)


def _write(path: Path, payload: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(payload, f, protocol=4)


def write_cifar10(root: Path, per_batch: int = 60, test: int = 100) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(1, 6):
        labels = np.arange(per_batch) % 10
        _write(folder / f"data_batch_{i}", {b"data": _images(labels, 10, rng),
                                             b"labels": labels.tolist()})
    labels = np.arange(test) % 10
    _write(folder / "test_batch", {b"data": _images(labels, 10, rng), b"labels": labels.tolist()})
    _write(folder / "batches.meta", {b"label_names": [f"c{i}".encode() for i in range(10)]})
    return root


def write_cifar100(root: Path, train: int = 300, test: int = 200) -> Path:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name, n in (("train", train), ("test", test)):
        fine = np.arange(n) % 100
        _write(folder / name, {b"data": _images(fine, 100, rng), b"fine_labels": fine.tolist(),
                               b"coarse_labels": (fine // 5).tolist()})
    _write(folder / "meta", {b"fine_label_names": [f"f{i}".encode() for i in range(100)]})
    return root


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """A directory holding both fixture datasets."""
    root = tmp_path_factory.mktemp("datasets")
    write_cifar10(root)
    write_cifar100(root)
    return root


@pytest.fixture(autouse=True)
def isolated_data_search(monkeypatch, tmp_path):
    """No test finds data it was not given: no env var, an empty Keras cache and project
    data/raw, and a download URL that refuses at once (port 9 on loopback)."""
    from analognoise import data
    monkeypatch.delenv("ANALOGNOISE_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(data, "resolve", lambda path: tmp_path / "project" / path)
    for name, spec in data.DATASETS.items():
        monkeypatch.setitem(data.DATASETS, name,
                            dataclasses.replace(spec, url="http://127.0.0.1:9/offline.tar.gz"))


@pytest.fixture(scope="module")
def untrained_resnet8():
    """A freshly initialised ResNet-8 (seed 0) with BN after every convolution."""
    import keras

    from analognoise.models import build_model

    keras.utils.set_random_seed(0)
    return build_model("resnet", 8, 10, "all")


@pytest.fixture(scope="module")
def random_inputs():
    """64 random model inputs, float32 (64, 32, 32, 3), and labels (64,)."""
    rng = np.random.default_rng(1)
    return rng.normal(size=(64, 32, 32, 3)).astype("float32"), rng.integers(0, 10, 64)
