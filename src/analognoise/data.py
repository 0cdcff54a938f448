"""CIFAR-10 / CIFAR-100 in the official python format: finding, loading, normalising.

Images are kept as ``uint8`` arrays of shape ``(N, 32, 32, 3)`` (NHWC) until a batch is
needed; labels are ``int64`` arrays of shape ``(N,)``. Normalisation is per-channel
standardisation with the mean and std of the training images actually used.

Where the data is looked for, in order (the first hit wins):

1. the ``data_dir`` argument,
2. ``$ANALOGNOISE_DATA_DIR``,
3. ``data/raw/`` of the project,
4. the Keras cache (``~/.keras/datasets``),
5. otherwise the official archive is downloaded into ``data/raw/`` and its MD5 checked.

A data directory may hold the extracted folder (``cifar-10-batches-py/``) or be that folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .paths import RAW_DATA_DIR, project_root, resolve

DATA_DIR_ENV = "ANALOGNOISE_DATA_DIR"


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset lives officially and how its python-format files are named."""

    name: str
    folder: str
    url: str
    md5: str
    train_files: tuple[str, ...]
    test_file: str
    label_key: bytes
    num_classes: int


DATASETS = {
    "cifar10": DatasetSpec(
        name="cifar10",
        folder="cifar-10-batches-py",
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        md5="c58f30108f718f92721af3b95e74349a",
        train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
        test_file="test_batch",
        label_key=b"labels",
        num_classes=10,
    ),
    "cifar100": DatasetSpec(
        name="cifar100",
        folder="cifar-100-python",
        url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        md5="eb9058c3a382ffc7106e4002c42a8d85",
        train_files=("train",),
        test_file="test",
        label_key=b"fine_labels",
        num_classes=100,
    ),
}


class DatasetNotFoundError(FileNotFoundError):
    """The dataset is in none of the searched places and could not be downloaded."""


@dataclass
class Cifar:
    """A loaded dataset. Images uint8 (N, 32, 32, 3); labels int64 (N,)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    source: str  # the directory the files were read from

    def __post_init__(self):
        pixels = self.x_train.reshape(-1, 3)
        #: per-channel mean / std of the training images, in [0, 1] units, shape (3,)
        self.channel_mean = (pixels.mean(axis=0) / 255.0).astype("float32")
        self.channel_std = (pixels.std(axis=0) / 255.0).astype("float32")

    def normalize(self, images: np.ndarray) -> np.ndarray:
        """uint8 images -> float32 standardised with this dataset's training statistics."""
        return normalize_images(images, self.channel_mean, self.channel_std)


def normalize_images(images: np.ndarray, mean, std) -> np.ndarray:
    """uint8 (N, 32, 32, 3) -> float32 (x / 255 - mean) / std, per channel."""
    return (images.astype("float32") / 255.0 - np.asarray(mean, "float32")) / np.asarray(std, "float32")


def check_dataset_name(dataset: str) -> DatasetSpec:
    """The spec of ``dataset``, or a ValueError naming the valid choices."""
    if dataset not in DATASETS:
        raise ValueError(
            f"unknown dataset {dataset!r}: choose one of {', '.join(sorted(DATASETS))}"
        )
    return DATASETS[dataset]


def candidate_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The directories searched for the dataset, in order."""
    places = []
    if data_dir is not None:
        places.append(Path(data_dir))
    if os.environ.get(DATA_DIR_ENV):
        places.append(Path(os.environ[DATA_DIR_ENV]))
    places.append(resolve(RAW_DATA_DIR))
    places.append(Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets")
    return places


def _has_files(folder: Path, spec: DatasetSpec) -> bool:
    return all((folder / f).is_file() for f in (*spec.train_files, spec.test_file))


def find_dataset(dataset: str, data_dir=None, download: bool = True) -> Path:
    """Path of the extracted python-format folder of ``dataset``.

    Searches :func:`candidate_dirs`; downloads into ``data/raw`` when allowed and nothing is
    found. Raises :class:`DatasetNotFoundError` listing every place searched.
    """
    spec = check_dataset_name(dataset)
    searched = []
    for place in candidate_dirs(data_dir):
        for folder in (place / spec.folder, place):
            searched.append(folder)
            if _has_files(folder, spec):
                _verify_once(folder)
                return folder
    download_error = "download disabled"
    if download:
        try:
            return _download(spec, resolve(RAW_DATA_DIR))
        except (urllib.error.URLError, OSError, ValueError) as err:
            download_error = f"download from {spec.url} failed: {err}"
    listing = "\n  ".join(str(p) for p in dict.fromkeys(searched))
    raise DatasetNotFoundError(
        f"{dataset} not found. Searched:\n  {listing}\nand {download_error}.\n"
        f"Fix: put the official python-format folder {spec.folder}/ in one of these places, "
        f"e.g. `export {DATA_DIR_ENV}=/path/to/datasets` (the folder that contains "
        f"{spec.folder}/), or pass data_dir=..."
    )


def _download(spec: DatasetSpec, target: Path) -> Path:
    """Fetch the official archive, check its MD5, extract into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target) as tmp:
        archive = Path(tmp) / Path(spec.url).name
        with urllib.request.urlopen(spec.url, timeout=30) as response, open(archive, "wb") as out:
            shutil.copyfileobj(response, out)
        digest = hashlib.md5(archive.read_bytes()).hexdigest()
        if digest != spec.md5:
            raise ValueError(f"checksum mismatch for {archive.name}: {digest} != {spec.md5}")
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        os.replace(Path(tmp) / spec.folder, target / spec.folder)
    return target / spec.folder


#: how to get an intact copy again, said whenever a dataset file is refused
REBUILD_HINT = ("delete the folder and let analognoise download the official archive again (its MD5 is checked), "
                "or, for the rebuilt exact copy, rerun `python ../shared/datasets/cifar-10-exact/rebuild.py ... --force`")


class DamagedDatasetError(ValueError):
    """A dataset file that is truncated, not a CIFAR batch, or not the file its copy recorded."""


def verify_recorded_checksums(folder: Path) -> None:
    """A rebuilt copy records the MD5 of each of its files (``SOURCE.json``, ``md5``): check them
    (DamagedDatasetError naming the file and the fix). Copies without a record are checked by
    structure as they are read."""
    record = Path(folder) / "SOURCE.json"
    if not record.is_file():
        return
    import json

    for name, expected in json.loads(record.read_text()).get("md5", {}).items():
        path = Path(folder) / name
        digest = hashlib.md5(path.read_bytes()).hexdigest() if path.is_file() else "missing"
        if digest != expected:
            raise DamagedDatasetError(f"{path}: MD5 {digest}, but SOURCE.json records {expected}: the file is "
                                      f"damaged or partial. Fix: {REBUILD_HINT}")


_VERIFIED: set = set()


def _verify_once(folder: Path) -> None:
    """:func:`verify_recorded_checksums` once per folder and process (while its files are unchanged)."""
    key = (str(folder), tuple(p.stat().st_mtime_ns for p in sorted(Path(folder).iterdir()) if p.is_file()))
    if key not in _VERIFIED:
        verify_recorded_checksums(folder)
        _VERIFIED.add(key)


def _read_batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 32, 32, 3), labels (N,)) of one python-format batch file; a file that does
    not unpickle, or holds no (N, 3072) uint8 images with N labels, is refused naming it and the fix."""
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        data, labels = np.asarray(batch[b"data"]), np.asarray(batch[label_key], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        raise DamagedDatasetError(f"{path} is not a readable CIFAR batch ({type(error).__name__}: {error}): the "
                                  f"file is damaged or partial. Fix: {REBUILD_HINT}") from None
    if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8 or len(labels) != len(data) or labels.min() < 0:
        raise DamagedDatasetError(f"{path}: expected uint8 images of shape (N, 3072) with N labels >= 0, got "
                                  f"{data.dtype} {data.shape} and {len(labels)} labels. Fix: {REBUILD_HINT}")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def subset_indices(labels: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    """Deterministic, class-balanced (as far as possible) sorted indices of ``size`` samples.

    ``None`` or a size >= len(labels) keeps everything.
    """
    if size is None or size >= len(labels):
        return np.arange(len(labels))
    if size < 1:
        raise ValueError(f"subset size must be >= 1 or None, got {size}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    # round-robin over classes in the permuted order -> balanced and deterministic
    rank_in_class = np.zeros(len(labels), dtype=np.int64)
    seen: dict[int, int] = {}
    for i in order:
        c = int(labels[i])
        rank_in_class[i] = seen.get(c, 0)
        seen[c] = rank_in_class[i] + 1
    chosen = order[np.argsort(rank_in_class[order], kind="stable")[:size]]
    return np.sort(chosen)


TEST_SUBSET_SEED = 20220101  # fixed: every run is scored on the same test images


def check_test_subset(test_subset) -> None:
    """Raise ValueError unless ``test_subset`` is None (every test image), an integer >= 1 (a
    fixed class-balanced subset of that size) or "first:N" (the first N in official order)."""
    if test_subset is None or (isinstance(test_subset, int) and not isinstance(test_subset, bool)
                               and test_subset >= 1):
        return
    if isinstance(test_subset, str) and test_subset.startswith("first:") \
            and test_subset[6:].isdigit() and int(test_subset[6:]) >= 1:
        return
    raise ValueError(f"test_subset must be None (all test images), an integer >= 1 (a "
                     f"class-balanced subset) or 'first:N' (the first N images, e.g. 'first:1000', "
                     f"the exact test images of the rebuilt CIFAR-10 copy), got {test_subset!r}")


def load_test_set(dataset: str = "cifar10", data_dir=None, test_subset: int | str | None = None,
                  download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images (N, 32, 32, 3), int labels (N,)) of the test split, optionally a subset
    (see :func:`check_test_subset`)."""
    check_test_subset(test_subset)
    spec = check_dataset_name(dataset)
    folder = find_dataset(dataset, data_dir, download)
    x_test, y_test = _read_batch(folder / spec.test_file, spec.label_key)
    if isinstance(test_subset, str):
        idx = np.arange(min(int(test_subset[6:]), len(y_test)))
    else:
        idx = subset_indices(y_test, test_subset, TEST_SUBSET_SEED)
    return x_test[idx], y_test[idx]


def load_cifar(
    dataset: str = "cifar10",
    data_dir=None,
    train_subset: int | None = None,
    test_subset: int | None = None,
    seed: int = 0,
    download: bool = True,
) -> Cifar:
    """Load CIFAR-10 or CIFAR-100 (fine labels), optionally as deterministic subsets.

    The training subset depends on ``seed``; the test subset on its size only.
    """
    spec = check_dataset_name(dataset)
    folder = find_dataset(dataset, data_dir, download)
    parts = [_read_batch(folder / f, spec.label_key) for f in spec.train_files]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    train_idx = subset_indices(y_train, train_subset, seed)
    x_test, y_test = load_test_set(dataset, folder, test_subset, download)
    return Cifar(
        name=dataset,
        x_train=x_train[train_idx],
        y_train=y_train[train_idx],
        x_test=x_test,
        y_test=y_test,
        num_classes=spec.num_classes,
        source=str(folder.resolve()),
    )


def describe_source(source: str) -> str:
    """Human label of where data came from; flags the lossy JPEG copy of CIFAR-10 and the
    rebuilt copy (its ``SOURCE.json`` says how many images are exact). The folder is shown
    relative to the project root where it is near it (``../shared/datasets/...``)."""
    shown = os.path.relpath(source, project_root())
    if shown.startswith("../../"):
        shown = source
    manifest = Path(source) / "SOURCE.json"
    if manifest.is_file():
        facts = json.loads(manifest.read_text())
        splits = facts.get("splits", {})
        if facts.get("compact"):  # a subset carried to another machine (e.g. a GPU)
            part = facts["compact"]
            return f"CIFAR-10 rebuilt, compact copy: {part['train']}; {part['test']} ({shown})"
        if not facts.get("exact", True) and splits:
            train, test = splits["train"], splits["test"]
            return (f"CIFAR-10 rebuilt: exact pixels for {train['exact']:,} of {train['images']:,} "
                    f"training and {test['exact']:,} of {test['images']:,} test images (the first "
                    f"{test['exact']:,}), the rest a JPEG round-trip copy ({shown})")
    readme = Path(source).parent / "README.md"
    if readme.is_file() and "JPEG round trip" in readme.read_text(errors="ignore"):
        return f"CIFAR-10, JPEG round-trip copy ({shown})"
    return shown


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """int labels (N,) -> float32 one-hot (N, num_classes)."""
    return np.eye(num_classes, dtype="float32")[labels]
