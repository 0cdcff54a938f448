"""Training runs: resumable training with checkpoints, augmentation, and run directories.

Parameters and run ids live in :mod:`analognoise.params`.

A run directory ``<runs_dir>/<run_id>/`` holds ``params.yaml`` (parameters + results),
``model.keras``, ``history.csv`` (one row per epoch) and ``checkpoints/epoch-NNNN.weights.h5``
(weights at initialisation and after epochs 1, 2, 4, 8, ... and the last; see
:func:`checkpoint_epochs`). While training it is
``<run_id>.partial/`` with a checkpoint after every epoch; it is renamed to ``<run_id>/`` only
when complete, so an interrupted run never looks finished and resumes where it stopped.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import yaml

from . import data as data_mod
from .models import build_model
from .params import model_label, read_record, run_id, validate_params
from .paths import resolve


def learning_rate_at(epoch: int, params: dict) -> float:
    """Learning rate of (0-based) ``epoch``.

    ``step`` scales the Keras example's decay (x0.1 at 40%, x0.01 at 60%, x1e-3 at 80%,
    x5e-4 at 90% of the epochs; epochs 80/120/160/180 of 200) to any number of epochs.
    """
    base, epochs = params["learning_rate"], params["epochs"]
    schedule = params["lr_schedule"]
    if schedule == "constant":
        return base
    if schedule == "cosine":
        return base * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
    factor = 1.0
    for fraction, f in ((0.4, 1e-1), (0.6, 1e-2), (0.8, 1e-3), (0.9, 5e-4)):
        if epoch > fraction * epochs:
            factor = f
    return base * factor


def checkpoint_epochs(epochs: int) -> list[int]:
    """Epochs whose weights are kept: 0 (initialisation), powers of two, and the last."""
    kept = {0, epochs}
    power = 1
    while power < epochs:
        kept.add(power)
        power *= 2
    return sorted(kept)


def checkpoint_path(run_dir, epoch: int) -> Path:
    """Where the weights after ``epoch`` (0 = initialisation) of a run are kept."""
    return resolve(run_dir) / "checkpoints" / f"epoch-{epoch:04d}.weights.h5"


def compile_model(model: keras.Model, learning_rate: float) -> None:
    """Adam + categorical cross-entropy + accuracy, as in the paper."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="categorical_crossentropy", metrics=["accuracy"])


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch: keep the weights if it is a checkpoint epoch, append a history row,
    then save the model (and optimizer) atomically. ``state.json`` records the last completed
    epoch; resuming trusts it, not the history file. The initial weights are kept too.
    """

    def __init__(self, workdir: Path, params: dict):
        super().__init__()
        self.workdir = workdir
        self.params_ = params
        self.started = time.perf_counter()

    def on_train_begin(self, logs=None):
        initial = checkpoint_path(self.workdir, 0)
        if not initial.exists():
            initial.parent.mkdir(exist_ok=True)
            self.model.save_weights(initial)

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 in checkpoint_epochs(self.params_["epochs"]):
            self.model.save_weights(checkpoint_path(self.workdir, epoch + 1))
        row = {"epoch": epoch + 1, "learning_rate": learning_rate_at(epoch, self.params_),
               **{k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"},
               "seconds": time.perf_counter() - self.started}
        history = self.workdir / "history.csv"
        pd.DataFrame([row]).to_csv(history, mode="a", header=not history.exists(), index=False)
        tmp = self.workdir / "checkpoint.tmp.keras"
        self.model.save(tmp)
        os.replace(tmp, self.workdir / "checkpoint.keras")
        (self.workdir / "state.json").write_text(json.dumps({"epochs_done": epoch + 1}))
        self.started = time.perf_counter()


def _resume(workdir: Path) -> tuple[keras.Model | None, int]:
    """(model, epochs done) from a partial run, or (None, 0)."""
    state = workdir / "state.json"
    if not state.exists():
        shutil.rmtree(workdir, ignore_errors=True)
        return None, 0
    done = json.loads(state.read_text())["epochs_done"]
    history = workdir / "history.csv"
    pd.read_csv(history).iloc[:done].to_csv(history, index=False)
    return keras.models.load_model(workdir / "checkpoint.keras"), done


def find_run(params: dict, runs_dir="data/runs") -> Path | None:
    """The finished run directory for these parameters, if there is one."""
    path = resolve(runs_dir) / run_id(params)
    return path if (path / "params.yaml").exists() else None


def train_run(params: dict, runs_dir="data/runs", data_dir=None, verbose: int = 2) -> Path:
    """Train (or resume, or find) the run for ``params``; returns the finished run directory.

    Everything is checked (parameters, dataset present) before anything is created.
    ``verbose`` is Keras's: 1 = progress bar, 2 = one line per epoch.
    """
    validate_params(params)
    data_mod.find_dataset(params["dataset"], data_dir)
    finished = find_run(params, runs_dir)
    if finished:
        print(f"found finished run {finished}; not training again")
        return finished
    rid = run_id(params)
    final = resolve(runs_dir) / rid
    workdir = resolve(runs_dir) / f"{rid}.partial"
    dataset = data_mod.load_cifar(params["dataset"], data_dir, params["train_subset"],
                                  seed=params["seed"])
    keras.utils.set_random_seed(params["seed"])
    workdir.mkdir(parents=True, exist_ok=True)
    model, done = _resume(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if model is None:
        model = build_model(params["arch"], params["depth"], dataset.num_classes,
                            params["bn"], params["weight_decay"], params.get("width", 1))
        compile_model(model, params["learning_rate"])
    else:
        print(f"resuming {rid} after epoch {done}")
    batches = AugmentedBatches(dataset, params["batch_size"], params["seed"],
                                        augment=params["augment"], start_epoch=done)
    started = time.perf_counter()
    if done < params["epochs"]:
        model.fit(
            batches, epochs=params["epochs"], initial_epoch=done, verbose=verbose,
            callbacks=[keras.callbacks.LearningRateScheduler(lambda e: learning_rate_at(e, params)),
                       EpochCheckpoint(workdir, params)],
        )
    x_test = dataset.normalize(dataset.x_test)
    probs = model.predict(x_test, batch_size=1000, verbose=0)
    test_accuracy = float(np.mean(np.argmax(probs, axis=1) == dataset.y_test))
    model.save(workdir / "model.keras")
    record = {
        "run_id": rid, "params": params, "model": model_label(params["arch"], params["depth"], params.get("width", 1)),
        "parameters": int(model.count_params()),
        "bn_layers": sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers),
        "checkpoint_epochs": checkpoint_epochs(params["epochs"]),
        "test_accuracy": test_accuracy,
        "train_images": int(len(dataset.y_train)), "test_images": int(len(dataset.y_test)),
        "data_source": data_mod.describe_source(dataset.source),
        "normalization": {"mean": dataset.channel_mean.tolist(), "std": dataset.channel_std.tolist()},
        "train_seconds_this_session": round(time.perf_counter() - started, 1),
        "keras": keras.__version__, "backend": keras.backend.backend(),
    }
    for leftover in ("checkpoint.keras", "state.json"):
        (workdir / leftover).unlink(missing_ok=True)
    (workdir / "params.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    os.replace(workdir, final)
    print(f"{rid}: test accuracy {test_accuracy:.4f} on {len(dataset.y_test)} images")
    return final


def load_run(run_dir) -> tuple[keras.Model, dict]:
    """(model, record) of a finished run directory."""
    record = read_record(run_dir)
    return keras.models.load_model(resolve(run_dir) / "model.keras"), record


def load_test_data(record: dict, test_subset: int | None = None, data_dir=None):
    """(x float32 (N, 32, 32, 3) normalised with the run's training statistics, y (N,))."""
    images, labels = data_mod.load_test_set(record["params"]["dataset"], data_dir, test_subset)
    norm = record["normalization"]
    return data_mod.normalize_images(images, norm["mean"], norm["std"]), labels


class AugmentedBatches(keras.utils.PyDataset):
    """Training batches with the paper's augmentation: random shifts and horizontal flips.

    Each image is zero-padded by ``shift`` pixels per side and randomly cropped back to
    32x32 (a shift of up to +-``shift`` pixels), then flipped left-right with probability
    1/2, then standardised (``augment=False``: only standardised). Yields ``(x float32 (B, 32, 32, 3), y one-hot float32 (B, K))``.
    The order and the augmentation of epoch ``e`` depend only on ``(seed, e)``.
    """

    def __init__(self, data: data_mod.Cifar, batch_size: int, seed: int, shift: int = 4, augment=True,
                 start_epoch: int = 0):
        super().__init__()
        self.data = data
        self.batch_size = batch_size
        self.seed = seed
        self.shift = shift
        self.augment = augment
        pad = ((0, 0), (shift, shift), (shift, shift), (0, 0))
        self.padded = np.pad(data.x_train, pad) if augment else None
        self.epoch = start_epoch
        self._order = self._permutation()

    def _permutation(self) -> np.ndarray:
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.data.y_train))

    def __len__(self) -> int:
        return int(np.ceil(len(self.data.y_train) / self.batch_size))

    def on_epoch_end(self):
        self.epoch += 1
        self._order = self._permutation()

    def __getitem__(self, index):
        idx = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            dy, dx = rng.integers(0, 2 * self.shift + 1, size=(2, len(idx)))
            rows = (dy[:, None] + np.arange(32))[:, :, None]
            cols = (dx[:, None] + np.arange(32))[:, None, :]
            images = self.padded[idx[:, None, None], rows, cols]
            flip = rng.random(len(idx)) < 0.5
            images[flip] = images[flip, :, ::-1]
        else:
            images = self.data.x_train[idx]
        labels = data_mod.one_hot(self.data.y_train[idx], self.data.num_classes)
        return self.data.normalize(images), labels
