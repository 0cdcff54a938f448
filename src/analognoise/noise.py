"""The noise engine: writes one noise trial's weights into a trained model, evaluates it fast,
and runs grids of trials into the tidy noise table.

A trial draws new values for every selected weight tensor W from its clean values with a noise
model (:mod:`analognoise.noisemodels`; default the paper's additive white Gaussian noise,
W' = W + N(0, (eta * s)^2) per element, eq. 10-12). The noise scale comes from a *reference*:

- ``scale="tensor"`` (default): the statistics (std, max|W|) of that tensor (one reading of the
  paper's "standard deviation of the weights in a layer");
- ``scale="layer"``: statistics pooled over all the selected tensors of the layer (the other
  reading; for a BN layer it pools gamma, beta, ... and differs sharply from per-tensor).

Which tensors are selected is ``targets``. The paper says only "the weights"; the default
reads that as every *trainable* weight:

- ``"kernels"``: conv / dense kernels only;
- ``"kernels+biases"``: kernels and biases;
- ``"trainable"`` (default): every trainable weight, i.e. + BN gamma and beta;
- ``"all"``: every weight a layer holds, i.e. + BN moving mean and moving variance;
- ``"folded"``: BN folded into the preceding conv / dense kernel and bias first
  (:func:`analognoise.models.fold_batchnorm`, how BN is deployed on analog crossbars), then
  noise on those kernels and biases.

Engine: one built model, its clean weights kept in host memory, noisy values written into the
existing variables, evaluation over pre-converted input batches by the model's compiled
predict step. Noise is drawn with NumPy from a seed derived from (base seed, run, level,
repeat) and, per tensor, the variable's path, so results do not depend on the order of trials,
on which other tensors get noise, nor on the Keras backend.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from .data import check_test_subset
from .metrics import normalized_accuracy
from .models import OutputCalibration, fold_batchnorm
from .noisemodels import Reference, make_noise_model
from .params import PAPER_ETAS, TARGETS, validate_noise_params
from .paths import resolve
from .runs import atomic_path, load_run, load_test_data


def _role(layer, variable) -> str:
    name = variable.name.split("/")[-1]
    if isinstance(layer, keras.layers.BatchNormalization):
        return {"gamma": "bn_gamma", "beta": "bn_beta", "moving_mean": "bn_moving_mean",
                "moving_variance": "bn_moving_variance"}[name]
    if name.endswith("kernel"):
        return "kernel"
    if name == "bias":
        return "bias"
    return "other_trainable" if variable.trainable else "other_state"


def _leaf_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _leaf_layers(layer)
        else:
            yield layer


def weight_inventory(model: keras.Model) -> pd.DataFrame:
    """Every weight of the model: layer, role, shape, size, std (one row per variable)."""
    rows = []
    for layer in _leaf_layers(model):
        for v in layer.weights:
            value = keras.ops.convert_to_numpy(v)
            rows.append(dict(layer=layer.name, role=_role(layer, v), variable=v.path,
                             shape=tuple(value.shape), size=int(value.size),
                             std=float(value.std())))
    return pd.DataFrame(rows)


def trial_seed(base_seed: int, run_key: int, eta: float, repeat: int) -> np.random.SeedSequence:
    """Independent, order-free seed for one noise trial."""
    return np.random.SeedSequence([int(base_seed), int(run_key), round(eta * 1_000_000), int(repeat)])


def run_key(name: str) -> int:
    """A 32-bit integer from a name: a run id (for :func:`trial_seed`) or a variable's path
    (for its own noise generator)."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)


@dataclass
class _Target:
    variable: object
    layer: str
    role: str
    clean: np.ndarray
    reference: Reference  # statistics that set the noise scale (tensor or pooled layer)


class WeightNoise:
    """Writes one trial's noisy copies of a model's selected weights into its variables, and
    restores them.

    ``noise_model``: a spec for :func:`analognoise.noisemodels.make_noise_model` (default the
    paper's). ``layers``: restrict the targets to these layer names (None: every layer).
    Usage: ``noise = WeightNoise(model); noise.apply(0.1, seed); ...; noise.restore()``.
    """

    def __init__(self, model: keras.Model, targets: str = "trainable", scale: str = "tensor",
                 noise_model=None, layers=None):
        validate_noise_params([0.0], 1, targets, scale)
        self.noise_model = make_noise_model(noise_model)
        if targets == "folded" and any(isinstance(layer, keras.layers.BatchNormalization)
                                       and not isinstance(layer, OutputCalibration)
                                       for layer in _leaf_layers(model)):
            raise ValueError("targets='folded' needs a model without BN: fold it first with "
                             "analognoise.models.fold_batchnorm (inject_run does this)")
        known = {layer.name for layer in _leaf_layers(model)}
        if layers is not None and not set(layers) <= known:
            raise ValueError(f"layers names {sorted(set(layers) - known)}, not layers of {model.name}")
        roles = TARGETS[targets]
        self.model = model
        self.targets: list[_Target] = []
        for layer in _leaf_layers(model):
            if layers is not None and layer.name not in layers:
                continue
            chosen = [v for v in layer.weights if _role(layer, v) in roles]
            values = [keras.ops.convert_to_numpy(v).astype("float32") for v in chosen]
            pooled = Reference.of(np.concatenate([x.ravel() for x in values])) if values else None
            for v, x in zip(chosen, values):
                reference = Reference.of(x) if scale == "tensor" else pooled
                self.targets.append(_Target(v, layer.name, _role(layer, v), x, reference))

    def noisy(self, level: float, seed) -> list[np.ndarray]:
        """The values of one trial, one float32 array per target, in target order.

        Each tensor has its own generator, seeded by (trial seed, the variable's path, e.g.
        ``s0_b0_conv1/kernel``): the same tensor gets the same draws in a trial whatever else
        is noisy (kernels only, + biases, + BN, folded, one layer: common random numbers), so
        differences between noise targets are paired, not sampling noise."""
        base = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        return [
            self.noise_model.noisy(t.clean, t.reference, level, np.random.default_rng(np.random.SeedSequence(
                base.entropy, spawn_key=(*base.spawn_key, run_key(t.variable.path)))))
            for t in self.targets
        ]

    def apply(self, level: float, seed) -> None:
        """Set every target to its values in the trial (level, seed)."""
        if self.noise_model.is_identity(level):
            return self.restore()
        for t, values in zip(self.targets, self.noisy(level, seed)):
            t.variable.assign(values)

    def restore(self) -> None:
        """Put the clean weights back."""
        for t in self.targets:
            t.variable.assign(t.clean)


def scale_ratios(model: keras.Model, targets: str = "kernels") -> pd.DataFrame:
    """Per selected weight tensor: layer, role, size, std(W), max|W| and their ratio
    max|W| / std(W), which converts a noise level between conventions: eta relative to max|W|
    (aihwkit, CrossSim) equals eta * max|W| / std(W) relative to std(W) (the paper)."""
    rows = [dict(layer=t.layer, role=t.role, variable=t.variable.path, size=int(t.clean.size),
                 std=t.reference.std, max_abs=t.reference.max_abs)
            for t in WeightNoise(model, targets).targets]
    table = pd.DataFrame(rows)
    table["max_over_std"] = table["max_abs"] / table["std"]
    return table


class Evaluator:
    """Top-1 accuracy of a model on fixed test data, reusing one compiled predict step.

    ``x``: float32 (N, 32, 32, 3) normalised images; ``y``: int labels (N,).
    """

    def __init__(self, model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 1000):
        self.model = model
        self.y = np.asarray(y)
        self.batches = [keras.ops.convert_to_tensor(x[i : i + batch_size])
                        for i in range(0, len(x), batch_size)]

    def __call__(self) -> tuple[float, float]:
        """(accuracy, fraction of images with any non-finite output); non-finite = wrong."""
        correct, finite = self.correctness()
        return float(correct.mean()), float(1.0 - finite.mean())

    def correctness(self) -> tuple[np.ndarray, np.ndarray]:
        """Per test image: (correct, finite) booleans (N,); a non-finite output is wrong."""
        probs = np.concatenate([keras.ops.convert_to_numpy(self.model.predict_on_batch(b))
                                for b in self.batches])
        finite = np.isfinite(probs).all(axis=1)
        predicted = np.argmax(np.where(finite[:, None], probs, -np.inf), axis=1)
        return (predicted == self.y) & finite, finite


def noise_grid(model: keras.Model, x: np.ndarray, y: np.ndarray, etas=PAPER_ETAS,
               repeats: int = 5, targets: str = "trainable", scale: str = "tensor",
               seed: int = 0, run_id: str = "", batch_size: int = 1000,
               progress: bool = True, correct: list | None = None, noise_model=None,
               layers=None, clean=None, recalibrate=None) -> pd.DataFrame:
    """Evaluate the model under weight noise for every (level, repeat).

    ``etas``: the noise model's levels (the paper's: eta, a fraction; see
    :mod:`analognoise.noisemodels`). Returns the tidy noise table: the level (column named by
    the model: ``eta``, or ``time_s`` for the PCM model), repeat, accuracy,
    nonfinite_fraction, clean_accuracy, normalized_accuracy (eq. 13), targets, scale, seed,
    noise_model (its label). A level that leaves the weights clean (eta = 0) reuses the clean
    evaluation; another deterministic level is evaluated once; either row is repeated for
    every repeat. ``layers`` restricts the noise to those layers; ``clean`` reuses a clean
    evaluation (:meth:`Evaluator.correctness` of this model on ``x``, ``y``). ``recalibrate``
    (a :class:`analognoise.recalibration.BatchNormRecalibration` of this model) re-estimates
    the BN statistics after each trial's noise is written, before it is evaluated. The weights
    (and BN statistics) are
    clean again on return, also after an error. ``correct``, if given a list, receives which
    test image each trial got right: one uint8 array of ceil(N / 8) packed bits per table row
    (``np.unpackbits(row, count=N)``), so the test images can be resampled later.
    """
    noise = WeightNoise(model, targets, scale, noise_model, layers)
    levels = noise.noise_model.check_levels(etas)
    validate_noise_params(levels, repeats, targets, scale)
    evaluate = Evaluator(model, x, y, batch_size)
    key = run_key(run_id)
    clean_correct, clean_finite = clean if clean is not None else evaluate.correctness()
    clean_accuracy = float(clean_correct.mean())
    rows, bits = [], []
    level_name = noise.noise_model.level_name
    try:
        for level in levels:
            started = time.perf_counter()
            for repeat in range(repeats):
                if noise.noise_model.is_identity(level):
                    right, finite = clean_correct, clean_finite
                elif repeat == 0 or not noise.noise_model.is_deterministic(level):
                    noise.apply(level, trial_seed(seed, key, level, repeat))
                    if recalibrate is not None:
                        recalibrate()
                    right, finite = evaluate.correctness()
                bits.append(np.packbits(right))
                rows.append({level_name: level, "repeat": repeat, "accuracy": float(right.mean()),
                             "nonfinite_fraction": float(1.0 - finite.mean())})
            if progress:
                accs = [r["accuracy"] for r in rows[-repeats:]]
                print(f"{level_name}={level:g}: accuracy {np.mean(accs):.4f} (min {min(accs):.4f}, "
                      f"max {max(accs):.4f}) over {repeats} trials in "
                      f"{time.perf_counter() - started:.1f} s", flush=True)
    finally:
        noise.restore()
        if recalibrate is not None:
            recalibrate.restore()
    table = pd.DataFrame(rows)
    table["clean_accuracy"] = clean_accuracy
    table["normalized_accuracy"] = normalized_accuracy(table["accuracy"], clean_accuracy)
    table["targets"], table["scale"], table["seed"] = targets, scale, seed
    table["noise_model"] = noise.noise_model.label()
    if recalibrate is not None:
        table["calibration_images"] = recalibrate.images
    if correct is not None:
        correct.extend(bits)
    return table


def inject_run(run_dir, etas=PAPER_ETAS, repeats: int = 5, targets: str = "trainable",
               scale: str = "tensor", test_subset: int | str | None = None, seed: int = 0,
               data_dir=None, output: str = "noise.csv", batch_size: int = 1000,
               noise_model=None) -> pd.DataFrame:
    """Noise grid for a finished training run; writes ``<run_dir>/<output>`` atomically.

    All settings are checked, and the run and the dataset looked up, before any compute.
    The table gains ``run_id`` and ``test_images`` columns.
    """
    make_noise_model(noise_model).check_levels(etas)
    validate_noise_params([0.0], repeats, targets, scale)
    check_test_subset(test_subset)
    model, record = load_run(run_dir)
    if targets == "folded":
        model = fold_batchnorm(model)
    x, y = load_test_data(record, test_subset, data_dir)
    correct = []
    table = noise_grid(model, x, y, etas, repeats, targets, scale, seed, record["run_id"],
                       batch_size, correct=correct, noise_model=noise_model)
    table.insert(0, "run_id", record["run_id"])
    table["test_images"] = len(y)
    save_correctness(resolve(run_dir) / output, correct, len(y))
    with atomic_path(resolve(run_dir) / output) as tmp:
        table.to_csv(tmp, index=False)
    return table


def correctness_path(table_path) -> Path:
    """Where the per-image correctness of a noise table lies: ``noise.csv`` -> ``noise.correct.npz``."""
    table_path = Path(table_path)
    return table_path.with_name(table_path.name.removesuffix(".csv") + ".correct.npz")


def save_correctness(table_path, correct: np.ndarray, images: int) -> None:
    """Write a noise table's packed per-image correctness (see :func:`noise_grid`) beside it."""
    with atomic_path(correctness_path(table_path)) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, correct=np.stack(correct), images=images)


def load_correctness(table_path) -> np.ndarray:
    """bool (rows, N): which test image each row (trial) of a noise table got right."""
    with np.load(correctness_path(table_path)) as saved:
        return np.unpackbits(saved["correct"], axis=1, count=int(saved["images"])).astype(bool)
