"""Training runs: resumable training with per-epoch training state, learning-rate schedules,
augmentation, and the finished run's record (the run directory itself: :mod:`analognoise.runs`).

An interrupted run resumes from its last finished epoch with the optimizer's state and ends
with exactly the weights of an uninterrupted run; a run whose weights a study committed
(``results/<study>/models/``) is restored instead of trained, and a committed partial run
(``results/<study>/partial/``) resumed.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from . import data as data_mod
from . import runs
from .models import build_model
from .noise_aware import TrainingNoise
from .params import model_label, run_id, validate_params
from .paths import RUNS_DIR


@keras.saving.register_keras_serializable(package="analognoise")
class RunSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The learning rate of a run at every optimizer step, owned by the optimizer (so it
    resumes with the step count and runs inside the compiled step on every backend).

    ``warmup-cosine`` changes every step: linear from 0 to the base rate over
    ``warmup_epochs``, then a cosine to 0 at the end. The others change once per epoch:
    ``constant``; ``cosine`` decays by epoch; ``step`` scales the Keras example's decay (x0.1
    after 40%, x0.01 after 60%, x1e-3 after 80%, x5e-4 after 90% of the epochs; epochs
    80/120/160/180 of 200) to any number of epochs.
    """

    def __init__(self, params: dict, steps_per_epoch: int):
        self.params = {k: params[k] for k in ("learning_rate", "epochs", "lr_schedule")}
        self.params["warmup_epochs"] = params.get("warmup_epochs", 0)
        self.steps_per_epoch = int(steps_per_epoch)

    def __call__(self, step):
        ops = keras.ops
        base, epochs = self.params["learning_rate"], self.params["epochs"]
        schedule, warmup = self.params["lr_schedule"], self.params["warmup_epochs"]
        epoch = ops.cast(step, "float32") / self.steps_per_epoch
        if schedule == "warmup-cosine":
            progress = (epoch - warmup) / (epochs - warmup)
            cosine = base * 0.5 * (1 + ops.cos(math.pi * ops.minimum(progress, 1.0)))
            return cosine if not warmup else ops.where(epoch < warmup, base * epoch / max(warmup, 1), cosine)
        whole = ops.floor(epoch)
        if schedule == "constant":
            return base + 0.0 * whole
        if schedule == "cosine":
            return base * 0.5 * (1 + ops.cos(math.pi * whole / epochs))
        factor = ops.ones_like(whole)
        for fraction, value in ((0.4, 1e-1), (0.6, 1e-2), (0.8, 1e-3), (0.9, 5e-4)):
            factor = ops.where(whole > fraction * epochs, value, factor)
        return base * factor

    def get_config(self):
        return {"params": self.params, "steps_per_epoch": self.steps_per_epoch}


def learning_rate_at(epoch: float, params: dict) -> float:
    """Learning rate of a run at ``epoch`` (0-based; a fraction inside an epoch, e.g. 3.25 =
    a quarter into the fourth epoch), from :class:`RunSchedule`."""
    return float(keras.ops.convert_to_numpy(RunSchedule(params, 1)(epoch)))


def checkpoint_epochs(epochs: int) -> list[int]:
    """Epochs whose weights are kept: 0 (initialisation), powers of two, and the last."""
    kept = {0, epochs}
    power = 1
    while power < epochs:
        kept.add(power)
        power *= 2
    return sorted(kept)


def compile_model(model: keras.Model, params: dict, steps_per_epoch: int) -> None:
    """The run's optimizer (Adam, as in the paper, or SGD with Nesterov momentum 0.9) with its
    learning-rate schedule, categorical cross-entropy (with the run's label smoothing) and
    accuracy."""
    rate = RunSchedule(params, steps_per_epoch)
    if params.get("optimizer", "adam") == "sgd-nesterov":
        optimizer = keras.optimizers.SGD(rate, momentum=0.9, nesterov=True)
    else:
        optimizer = keras.optimizers.Adam(rate)
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=params.get("label_smoothing", 0.0))
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])


def steps_per_epoch(params: dict, train_images: int) -> int:
    """Optimizer steps in one epoch of ``train_images`` (the last batch may be smaller)."""
    return math.ceil(train_images / params["batch_size"])


def new_model(params: dict, num_classes: int, train_images: int) -> keras.Model:
    """The run's network, compiled, with its initial weights drawn from the run's seed."""
    keras.utils.set_random_seed(params["seed"])
    model = build_model(params["arch"], params["depth"], num_classes, params["bn"],
                        params["weight_decay"], params.get("width", 1),
                        params.get("zero_init_residual", False), params.get("shortcut_bn", True))
    compile_model(model, params, steps_per_epoch(params, train_images))
    return model


def save_training_state(model: keras.Model, workdir: Path) -> None:
    """Weights and every optimizer variable (step count, momenta / Adam moments: Keras writes
    the compiled optimizer's state into the weights file), so training resumes exactly where it
    stopped; written under a temporary name, then renamed."""
    with runs.atomic_path(workdir / runs.STATE) as tmp:
        model.save_weights(tmp)


def restore_training_state(model: keras.Model, workdir: Path) -> None:
    """Load what :func:`save_training_state` wrote into a freshly built, compiled ``model``
    (its optimizer is built first, so that its state is loaded too, not skipped)."""
    model.optimizer.build(model.trainable_variables)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.load_weights(workdir / runs.STATE)
    skipped = [str(w.message) for w in caught if "Skipping variable loading" in str(w.message)]
    if skipped:
        raise ValueError(f"{workdir}: the saved training state does not fit this run ({skipped[0].strip()}); "
                         "delete the folder to train from scratch")


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch: keep the weights if it is a checkpoint epoch, append a history row
    (training loss and accuracy, and the accuracy on the monitored test images), then save the
    training state (weights and optimizer) atomically. ``state.json`` records the last completed
    epoch; resuming trusts it, not the history file. The initial weights are kept too.
    """

    def __init__(self, workdir: Path, params: dict, monitor: tuple[np.ndarray, np.ndarray] | None = None):
        super().__init__()
        self.workdir = workdir
        self.params_ = params
        self.monitor = monitor
        self.started = time.perf_counter()

    def on_train_begin(self, logs=None):
        initial = runs.checkpoint_path(self.workdir, 0)
        if not initial.exists():
            initial.parent.mkdir(exist_ok=True)
            self.model.save_weights(initial)

    def on_epoch_end(self, epoch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):  # diverged: keep the last good state, never a NaN one
            raise FloatingPointError(f"training diverged in epoch {epoch + 1} (loss {loss}); the run stays "
                                     f"partial at epoch {epoch}: lower the learning rate")
        if epoch + 1 in checkpoint_epochs(self.params_["epochs"]):
            self.model.save_weights(runs.checkpoint_path(self.workdir, epoch + 1))
        row = {"epoch": epoch + 1, "learning_rate": learning_rate_at(epoch, self.params_),
               **{k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"},
               "seconds": time.perf_counter() - self.started}
        if self.monitor is not None:
            x, y = self.monitor
            probs = self.model.predict(x, batch_size=500, verbose=0)
            row["test_accuracy"] = float(np.mean(np.argmax(probs, axis=1) == y))
        history = self.workdir / runs.HISTORY
        pd.DataFrame([row]).to_csv(history, mode="a", header=not history.exists(), index=False)
        save_training_state(self.model, self.workdir)
        with runs.atomic_path(self.workdir / runs.STATE_INFO) as tmp:
            tmp.write_text(json.dumps({"epochs_done": epoch + 1}))
        print(f"epoch {epoch + 1} of {self.params_['epochs']}: "
              + ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch"), flush=True)
        self.started = time.perf_counter()


def _resume(workdir: Path, params: dict, num_classes: int, train_images: int) -> tuple[keras.Model, int]:
    """(compiled model, epochs done): restored from a partial run, or new with 0 epochs done."""
    done = runs.epochs_done(workdir)
    if not done:
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        return new_model(params, num_classes, train_images), 0
    history = workdir / runs.HISTORY
    pd.read_csv(history).iloc[:done].to_csv(history, index=False)
    model = new_model(params, num_classes, train_images)
    restore_training_state(model, workdir)
    return model, done


#: test images whose accuracy is recorded after every epoch (the first ones in official order:
#: on the rebuilt CIFAR-10 copy, exactly the test images with exact pixels)
MONITORED_TEST_IMAGES = 1000


def find_run(params: dict, runs_dir=RUNS_DIR) -> Path | None:
    """The finished run directory for these parameters, if there is one: in ``runs_dir``, or
    restored there from weights a study committed."""
    rid = run_id(params)
    path = runs.run_dir(rid, runs_dir)
    if (path / runs.RECORD).exists():
        return path
    committed = runs.committed_models(rid)
    if committed:
        print(f"restoring {rid} from the committed weights {committed[0]}")
        return runs.restore_model(committed[0], runs_dir)
    return None


def train_run(params: dict, runs_dir=RUNS_DIR, data_dir=None, verbose: int = 0) -> Path:
    """Train (or resume, or find) the run for ``params``; returns the finished run directory.

    Everything is checked (parameters, dataset present) before anything is created.
    ``verbose`` is Keras's: 0 = only this project's line per epoch, 1 = a progress bar,
    2 = Keras's own line per epoch too.
    """
    validate_params(params)
    data_dir = runs.run_data_dir(params, data_dir)
    data_mod.find_dataset(params["dataset"], data_dir)
    with runs.training_lock(run_id(params), runs_dir):
        return _train_unlocked(params, runs_dir, data_dir, verbose)


def _train_unlocked(params: dict, runs_dir, data_dir, verbose: int) -> Path:
    """:func:`train_run` once this process holds the run's training lock."""
    finished = find_run(params, runs_dir)
    if finished:
        print(f"found finished run {finished}; not training again")
        return finished
    rid = run_id(params)
    final = runs.run_dir(rid, runs_dir)
    workdir = runs.partial_dir(rid, runs_dir)
    if not runs.epochs_done(workdir) and runs.committed_partial(rid):
        source = runs.committed_partial(rid)[0]
        print(f"resuming {rid} from the committed partial run {source} ({runs.epochs_done(source)} epochs)")
        runs.import_partial(source, runs_dir)
    dataset = data_mod.load_cifar(params["dataset"], data_dir, params["train_subset"],
                                  seed=params["seed"])
    model, done = _resume(workdir, params, dataset.num_classes, len(dataset.y_train))
    if done:
        print(f"resuming {rid} after epoch {done}")
    batches = AugmentedBatches(dataset, params["batch_size"], params["seed"],
                                        augment=params["augment"], start_epoch=done)
    monitor = (dataset.normalize(dataset.x_test[:MONITORED_TEST_IMAGES]),
               dataset.y_test[:MONITORED_TEST_IMAGES])
    started = time.perf_counter()
    if done < params["epochs"]:
        # shuffle=False: the batches already come in a per-epoch permutation of (seed, epoch);
        # Keras's own shuffling of their order would draw from a generator state that a
        # resumed run does not share, and the resumed weights would differ
        model.fit(
            batches, epochs=params["epochs"], initial_epoch=done, verbose=verbose, shuffle=False,
            callbacks=[keras.callbacks.TerminateOnNaN(),
                       *([TrainingNoise(params["train_noise"], params["seed"])] if params.get("train_noise") else []),
                       EpochCheckpoint(workdir, params, monitor)],
        )
    x_test = dataset.normalize(dataset.x_test)
    probs = model.predict(x_test, batch_size=1000, verbose=0)
    test_accuracy = float(np.mean(np.argmax(probs, axis=1) == dataset.y_test))
    model.save(workdir / runs.MODEL)
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
    for leftover in (runs.STATE, runs.STATE_INFO):
        (workdir / leftover).unlink(missing_ok=True)
    runs.write_record(workdir, record)
    os.replace(workdir, final)
    print(f"{rid}: test accuracy {test_accuracy:.4f} on {len(dataset.y_test)} images")
    return final


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
