"""Training runs: parameters, run ids, resumable training, and the finished run directory.

A run directory ``<runs_dir>/<run_id>/`` holds ``params.yaml`` (parameters + results),
``model.keras`` and ``history.csv`` (one row per epoch). While training it is
``<run_id>.partial/`` with a checkpoint after every epoch; it is renamed to ``<run_id>/`` only
when complete, so an interrupted run never looks finished and resumes where it stopped.
"""
from __future__ import annotations

import hashlib
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
from .models import build_model, check_architecture, model_label, resolve_bn
from .paths import resolve

SCHEDULES = ("constant", "step", "cosine")

DEFAULTS = dict(
    dataset="cifar10", arch="resnet", depth=20, bn="all", epochs=10, batch_size=128,
    learning_rate=1e-3, lr_schedule="step", weight_decay=0.0, augment=True,
    train_subset=None, seed=0,
)

PRESETS = {
    # The Keras cifar10_resnet example (ResNet v1): Adam 1e-3, 200 epochs, batch 32, step
    # decay at epochs 80/120/160/180, L2 1e-4, shifts + flips. The paper's with-BN CIFAR-10
    # accuracies match it.
    "keras-cifar10-resnet": dict(epochs=200, batch_size=32, learning_rate=1e-3,
                                 lr_schedule="step", weight_decay=1e-4, augment=True),
}


def make_params(preset: str | None = None, **overrides) -> dict:
    """Complete, validated training parameters: DEFAULTS <- preset <- overrides."""
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown training parameters {sorted(unknown)}; valid: {sorted(DEFAULTS)}")
    if preset and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    params = {**DEFAULTS, **(PRESETS[preset] if preset else {}), **overrides}
    if params["arch"] != "resnet":
        params["depth"] = None
    if isinstance(params["bn"], (list, tuple)):
        params["bn"] = sorted(params["bn"])
    validate_params(params)
    return params


def notebook_params(preset: str = "", **values) -> dict:
    """Parameters from a notebook's parameters cell: a named preset sets its own keys
    (the notebook's values for those keys are ignored); the notebook sets the rest."""
    if preset:
        make_params(preset)  # checks the name
        values = {k: v for k, v in values.items() if k not in PRESETS[preset]}
    return make_params(preset or None, **values)


def validate_params(params: dict) -> None:
    """Raise ValueError for any bad training parameter, before any compute."""
    data_mod.check_dataset_name(params["dataset"])
    check_architecture(params["arch"], params["depth"])
    resolve_bn(params["bn"], params["arch"], params["depth"])
    for key in ("epochs", "batch_size"):
        if not isinstance(params[key], int) or params[key] < 1:
            raise ValueError(f"{key} must be an integer >= 1, got {params[key]!r}")
    if not (isinstance(params["learning_rate"], (int, float)) and params["learning_rate"] > 0):
        raise ValueError(f"learning_rate must be > 0, got {params['learning_rate']!r}")
    if params["lr_schedule"] not in SCHEDULES:
        raise ValueError(f"unknown lr_schedule {params['lr_schedule']!r}: choose one of {SCHEDULES}")
    if params["weight_decay"] < 0:
        raise ValueError(f"weight_decay must be >= 0, got {params['weight_decay']!r}")
    subset = params["train_subset"]
    if subset is not None and (not isinstance(subset, int) or subset < 1):
        raise ValueError(f"train_subset must be None or an integer >= 1, got {subset!r}")


def bn_tag(bn) -> str:
    """Short text for a BN placement: all, none, first3, or custom<hash>."""
    if isinstance(bn, str):
        return bn.replace(":", "")
    return "custom" + hashlib.sha256(json.dumps(sorted(bn)).encode()).hexdigest()[:6]


def run_id(params: dict) -> str:
    """Readable prefix + short hash of the complete parameters, e.g. cifar10-resnet20-bnall-1a2b3c4d."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    model = f"resnet{params['depth']}" if params["arch"] == "resnet" else params["arch"]
    return f"{params['dataset']}-{model}-bn{bn_tag(params['bn'])}-{digest}"


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


def compile_model(model: keras.Model, learning_rate: float) -> None:
    """Adam + categorical cross-entropy + accuracy, as in the paper."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="categorical_crossentropy", metrics=["accuracy"])


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch: append a history row, then save the model (and optimizer) atomically.

    ``state.json`` records the last completed epoch; resuming trusts it, not the history file.
    """

    def __init__(self, workdir: Path, params: dict):
        super().__init__()
        self.workdir = workdir
        self.params_ = params
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
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
                            params["bn"], params["weight_decay"])
        compile_model(model, params["learning_rate"])
    else:
        print(f"resuming {rid} after epoch {done}")
    batches = data_mod.AugmentedBatches(dataset, params["batch_size"], params["seed"],
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
        "run_id": rid, "params": params, "model": model_label(params["arch"], params["depth"]),
        "parameters": int(model.count_params()),
        "bn_layers": sum(isinstance(l, keras.layers.BatchNormalization) for l in model.layers),
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
    run_dir = resolve(run_dir)
    if not (run_dir / "params.yaml").exists():
        raise FileNotFoundError(
            f"{run_dir} is not a finished run (no params.yaml); train it with notebooks/train.ipynb"
        )
    record = yaml.safe_load((run_dir / "params.yaml").read_text())
    return keras.models.load_model(run_dir / "model.keras"), record


def load_test_data(record: dict, test_subset: int | None = None, data_dir=None):
    """(x float32 (N, 32, 32, 3) normalised with the run's training statistics, y (N,))."""
    images, labels = data_mod.load_test_set(record["params"]["dataset"], data_dir, test_subset)
    norm = record["normalization"]
    return data_mod.normalize_images(images, norm["mean"], norm["std"]), labels
