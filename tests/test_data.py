import dataclasses
import hashlib
import json
import tarfile

import numpy as np
import pytest
from conftest import SHARED_DATASETS, write_cifar10

from analognoise import data
from analognoise.training import AugmentedBatches


def test_cifar10_fixture_loads_in_official_layout(data_root):
    ds = data.load_cifar("cifar10", data_root)
    assert ds.x_train.shape == (300, 32, 32, 3) and ds.x_train.dtype == np.uint8
    assert ds.x_test.shape == (100, 32, 32, 3)
    assert ds.num_classes == 10 and set(ds.y_train) == set(range(10))
    # channel-major rows -> NHWC: the fixture gives every pixel of an image its class colour +- noise
    assert abs(ds.x_train[:, :, :, 0].mean() - ds.x_train[:, 0, 0, 0].mean()) < 10


def test_cifar100_uses_fine_labels(data_root):
    ds = data.load_cifar("cifar100", data_root)
    assert ds.num_classes == 100
    assert ds.y_train.max() == 99 and ds.x_test.shape == (200, 32, 32, 3)


def test_subsets_are_deterministic_and_balanced(data_root):
    a = data.load_cifar("cifar10", data_root, train_subset=50, test_subset=20, seed=3)
    b = data.load_cifar("cifar10", data_root, train_subset=50, test_subset=20, seed=3)
    c = data.load_cifar("cifar10", data_root, train_subset=50, test_subset=20, seed=4)
    assert np.array_equal(a.x_train, b.x_train) and len(a.y_train) == 50
    assert np.bincount(a.y_train, minlength=10).tolist() == [5] * 10
    assert not np.array_equal(a.x_train, c.x_train), "the train subset follows the seed"
    assert np.array_equal(a.x_test, c.x_test), "the test subset does not depend on the run seed"


def test_normalisation_uses_training_statistics(data_root):
    ds = data.load_cifar("cifar10", data_root)
    x = ds.normalize(ds.x_train)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x.reshape(-1, 3).mean(0), 0, atol=1e-3)
    np.testing.assert_allclose(x.reshape(-1, 3).std(0), 1, atol=1e-3)


def test_search_order_explicit_then_env(data_root, tmp_path, monkeypatch):
    other = write_cifar10(tmp_path / "other", per_batch=10, test=10)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(other))
    assert len(data.load_cifar("cifar10").y_train) == 50  # env var
    assert len(data.load_cifar("cifar10", data_root).y_train) == 300  # explicit wins
    # the folder itself may be given, too
    assert data.find_dataset("cifar10", data_root / "cifar-10-batches-py").name == "cifar-10-batches-py"


def test_missing_dataset_offline_lists_places_and_fix(tmp_path):
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load_cifar("cifar100", tmp_path / "nowhere")
    message = str(err.value)
    assert "nowhere" in message and "keras_home" in message and "data/raw" in message
    assert "download from http://127.0.0.1:9" in message and "failed" in message
    assert data.DATA_DIR_ENV in message


def test_unknown_dataset_is_refused():
    with pytest.raises(ValueError, match="cifar10, cifar100"):
        data.load_cifar("mnist")


def test_download_checks_md5_and_extracts(tmp_path, monkeypatch):
    src = write_cifar10(tmp_path / "src", per_batch=10, test=10)
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    spec = data.DATASETS["cifar10"]
    monkeypatch.setitem(data.DATASETS, "cifar10",
                        dataclasses.replace(spec, url=archive.as_uri(), md5="0" * 32))
    with pytest.raises(data.DatasetNotFoundError, match="checksum mismatch"):
        data.find_dataset("cifar10")
    monkeypatch.setitem(data.DATASETS, "cifar10", dataclasses.replace(spec, url=archive.as_uri(), md5=md5))
    folder = data.find_dataset("cifar10")
    assert folder == tmp_path / "project" / "data/raw" / "cifar-10-batches-py"
    assert len(data.load_cifar("cifar10").y_test) == 10


def test_augmentation_shifts_and_flips_but_keeps_content(data_root):
    ds = data.load_cifar("cifar10", data_root)
    plain = AugmentedBatches(ds, 32, seed=0, augment=False)
    x, y = plain[0]
    assert x.shape == (32, 32, 32, 3) and y.shape == (32, 10) and np.allclose(y.sum(1), 1)
    aug = AugmentedBatches(ds, 32, seed=0)
    xa, ya = aug[0]
    assert np.array_equal(ya, y), "same order with the same seed and epoch"
    assert not np.allclose(xa, x)
    again = AugmentedBatches(ds, 32, seed=0)[0][0]
    assert np.array_equal(xa, again), "augmentation is deterministic"
    aug.on_epoch_end()
    assert not np.array_equal(aug[0][1], y) or not np.allclose(aug[0][0], xa), "new epoch reshuffles"
    # a zero shift without flips reproduces the images exactly
    zero = AugmentedBatches(ds, 32, seed=0, shift=0)
    xz, _ = zero[0]
    flipped = np.array([np.allclose(a, b[:, ::-1]) and not np.allclose(a, b) for a, b in zip(xz, x)])
    same = np.array([np.allclose(a, b) for a, b in zip(xz, x)])
    assert np.all(flipped | same) and flipped.any() and same.any()


@pytest.mark.skipif(not (SHARED_DATASETS / "cifar-10-batches-py").is_dir(), reason="no shared CIFAR-10")
def test_shared_cifar10_copy_is_read_and_labelled():
    x, y = data.load_test_set("cifar10", SHARED_DATASETS)
    assert x.shape == (10000, 32, 32, 3)
    assert np.bincount(y).tolist() == [1000] * 10
    folder = data.find_dataset("cifar10", SHARED_DATASETS)
    assert "JPEG round-trip copy" in data.describe_source(str(folder))


def test_the_source_of_a_rebuilt_copy_and_of_its_compact_subset_is_described(tmp_path):
    splits = {"train": {"images": 50000, "exact": 50000}, "test": {"images": 10000, "exact": 1000}}
    (tmp_path / "SOURCE.json").write_text(json.dumps({"exact": False, "splits": splits}))
    assert "exact pixels for 50,000 of 50,000 training and 1,000 of 10,000 test" in data.describe_source(str(tmp_path))
    compact = {"train": "the 10,000 training images of subset seed 0", "test": "test images 0-999"}
    (tmp_path / "SOURCE.json").write_text(json.dumps({"exact": False, "splits": splits, "compact": compact}))
    described = data.describe_source(str(tmp_path))
    assert described.startswith("CIFAR-10 rebuilt, compact copy: the 10,000 training images of subset seed 0; "
                                "test images 0-999"), described


@pytest.mark.parametrize("damage, message", [
    (lambda path: path.write_bytes(path.read_bytes()[:1000]), "not a readable CIFAR batch"),   # truncated
    (lambda path: path.write_text("not a pickle"), "not a readable CIFAR batch"),
    (lambda path: path.write_bytes(__import__("pickle").dumps({b"data": np.zeros((5, 100), np.uint8),
                                                                b"labels": [0] * 5})), r"expected uint8 images of shape \(N, 3072\)"),
])
def test_a_damaged_batch_file_is_refused_naming_it_and_the_fix(tmp_path, damage, message):
    root = write_cifar10(tmp_path / "copy")
    damaged = root / "cifar-10-batches-py" / "data_batch_3"
    damage(damaged)
    with pytest.raises(data.DamagedDatasetError, match=message) as error:
        data.load_cifar("cifar10", root, download=False)
    assert str(damaged) in str(error.value) and "rebuild.py" in str(error.value)


def test_a_rebuilt_copy_is_checked_against_its_recorded_checksums(tmp_path):
    root = write_cifar10(tmp_path / "copy")
    folder = root / "cifar-10-batches-py"
    record = {"md5": {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}}
    (folder / "SOURCE.json").write_text(json.dumps(record))
    assert data.load_cifar("cifar10", root, download=False).x_train.shape[0] == 300
    with open(folder / "test_batch", "ab") as f:
        f.write(b"x")  # still unpickles: only the recorded checksum can tell
    with pytest.raises(data.DamagedDatasetError, match="test_batch: MD5 .* SOURCE.json records"):
        data.load_cifar("cifar10", root, download=False)
