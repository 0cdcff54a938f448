"""Section II of the paper, measured: SGD gradient noise (eq. 1-7) and BN smoothing (eq. 8-9).

Gradients are taken of the categorical cross-entropy with respect to all trainable weights,
flattened into one float32 vector of length P (the trainable parameter count).

*Gradient noise.* For a pool of M samples: the full-pool gradient g_D = mean_i g_i (eq. 1),
the per-sample noise C = mean_i ||g_i - g_D||^2 (eq. 6), and the minibatch noise power
E||alpha g_B - alpha g_D||^2 for batches B drawn without replacement from the pool, which for
independent samples equals alpha^2 C / |B| * (M - |B|) / (M - 1) (eq. 7, written for sampling
without replacement; the paper's "<" is an equality with replacement). Independence holds when
BN uses its moving statistics (``training=False``); with batch statistics (``training=True``,
what SGD actually sees) BN couples the samples of a batch, and the power is measured around
the mean of the batch gradients instead.

*Smoothness* (Santurkar et al. 2018): from the weights w and the gradient g of a batch (BN in
training mode, as in SGD), step to w - s g for a range of step sizes s and record the loss
(its range: loss Lipschitzness), the gradient change ||g(w - s g) - g|| (gradient
predictiveness), and the effective beta-smoothness max_s ||g(w - s g) - g|| / ||s g||.

Only :func:`gradient_functions` depends on the Keras backend (TensorFlow or JAX).
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from . import data
from .params import validate_theory_params
from .paths import resolve
from .runs import atomic_path, checkpoint_path, load_run


def _offsets(model) -> np.ndarray:
    """Start of each trainable variable in the flat gradient vector, plus its length P at the end."""
    return np.cumsum([0] + [int(np.prod(v.shape)) for v in model.trainable_variables])


def gradient_functions(model: keras.Model):
    """(per_sample, batch) gradient functions for the active Keras backend.

    ``per_sample(x, y_onehot)`` -> float32 (n, P): one gradient per sample, BN in inference
    mode, vectorised. ``batch(x, y_onehot, training)`` -> (mean loss, float32 (P,)). Neither
    changes the model's variables (BN moving statistics are restored after training-mode calls).
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow_gradients(model)
    if backend == "jax":
        return _jax_gradients(model)
    raise NotImplementedError(f"theory measurements support the tensorflow and jax backends, not {backend}")


def _tensorflow_gradients(model):
    import tensorflow as tf

    weights = model.trainable_variables

    def one_sample(pair):
        x1, y1 = pair[0][None], pair[1][None]
        with tf.GradientTape() as tape:
            loss = keras.losses.categorical_crossentropy(y1, model(x1, training=False))[0]
        return tf.concat([tf.reshape(g, (-1,)) for g in tape.gradient(loss, weights)], axis=0)

    @tf.function(reduce_retracing=True)
    def per_sample(x, y):
        # vectorised over the samples (pfor); ~15x faster here than tape.jacobian
        return tf.vectorized_map(one_sample, (x, y))

    @tf.function(reduce_retracing=True)
    def batch_grad(x, y, training):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.categorical_crossentropy(y, model(x, training=training)))
        grads = tape.gradient(loss, weights)
        return loss, tf.concat([tf.reshape(g, (-1,)) for g in grads], axis=0)

    def batch(x, y, training=False):
        state = [v.numpy() for v in model.non_trainable_variables]
        loss, grad = batch_grad(x, y, bool(training))  # a Python bool: one trace per mode
        for v, value in zip(model.non_trainable_variables, state):
            v.assign(value)
        return float(loss), grad.numpy()

    return (lambda x, y: per_sample(x, y).numpy()), batch


def _jax_gradients(model):
    import jax
    import jax.numpy as jnp

    def loss(trainable, non_trainable, x, y, training):
        probs, _ = model.stateless_call(trainable, non_trainable, x, training=training)
        return jnp.mean(keras.losses.categorical_crossentropy(y, probs))

    def flat(grads):
        return jnp.concatenate([jnp.ravel(g) for g in grads])

    one = jax.grad(lambda tv, ntv, x, y: loss(tv, ntv, x[None], y[None], False))
    per_sample_jit = jax.jit(jax.vmap(lambda tv, ntv, x, y: flat(one(tv, ntv, x, y)), in_axes=(None, None, 0, 0)))
    batch_jit = jax.jit(jax.value_and_grad(loss), static_argnums=4)

    def values():
        return ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables])

    def per_sample(x, y):
        return np.asarray(per_sample_jit(*values(), x, y))

    def batch(x, y, training=False):
        value, grads = batch_jit(*values(), x, y, training)
        return float(value), np.asarray(flat(grads))

    return per_sample, batch


@dataclass
class GradientNoise:
    """Per-sample gradient statistics of a pool of ``samples`` images.

    ``full_gradient``: g_D, float32 (P,); ``c``: eq. 6, mean_i ||g_i - g_D||^2;
    ``c_by_variable``: the part of C in each trainable variable (sums to ``c``).
    """

    samples: int
    full_gradient: np.ndarray
    c: float
    c_by_variable: pd.Series

    @property
    def full_gradient_norm(self) -> float:
        return float(np.linalg.norm(self.full_gradient))


def gradient_noise(model: keras.Model, x: np.ndarray, y_onehot: np.ndarray, chunk: int | None = None,
                   per_sample=None) -> GradientNoise:
    """Eq. 1 and 6 over the pool (x float32 (M, 32, 32, 3), y one-hot (M, K)), streamed in chunks.

    Uses ||g_i - g_D||^2 = ||g_i||^2 - 2<g_i, g_D> + ||g_D||^2 summed per variable, so that
    memory stays at one chunk of per-sample gradients (chunk x P floats).
    """
    per_sample = per_sample or gradient_functions(model)[0]
    bounds = _offsets(model)
    size = int(bounds[-1])
    chunk = chunk or max(1, min(64, int(5e7 // size)))
    total = np.zeros(size, np.float64)
    squares = np.zeros(size, np.float64)  # sum over samples of g_i^2, element-wise
    for start in range(0, len(x), chunk):
        grads = per_sample(x[start:start + chunk], y_onehot[start:start + chunk]).astype(np.float64)
        total += grads.sum(axis=0)
        squares += (grads ** 2).sum(axis=0)
    mean = total / len(x)
    variance = squares / len(x) - mean ** 2  # element-wise population variance
    by_variable = pd.Series([variance[a:b].sum() for a, b in zip(bounds[:-1], bounds[1:])],
                            index=[v.path for v in model.trainable_variables])
    return GradientNoise(len(x), mean.astype(np.float32), float(variance.sum()), by_variable)


def minibatch_noise(model: keras.Model, x: np.ndarray, y_onehot: np.ndarray, stats: GradientNoise,
                    batch_sizes=(8, 32, 128), batches: int = 20, training: bool = False,
                    seed: int = 0, batch=None) -> pd.DataFrame:
    """Measured squared deviation ||g_B - g||^2 of ``batches`` minibatches per batch size.

    ``training=False``: g = g_D of ``stats`` (same pool), with the eq. 7 prediction
    C / |B| * (M - |B|) / (M - 1) beside it. ``training=True``: BN batch statistics; g = the
    mean of that batch size's gradients (an unbiased variance, K / (K - 1) corrected).
    One row per (batch_size, batch); multiply by alpha^2 for a learning rate alpha.
    """
    batch = batch or gradient_functions(model)[1]
    rng = np.random.default_rng(seed)
    rows = []
    for size in batch_sizes:
        if size > len(x):
            raise ValueError(f"batch size {size} is larger than the pool of {len(x)} samples")
        grads = []
        for k in range(batches):
            idx = rng.choice(len(x), size, replace=False)
            grads.append(batch(x[idx], y_onehot[idx], training)[1])
        grads = np.stack(grads)
        center = grads.mean(axis=0) if training else stats.full_gradient
        deviation = ((grads - center) ** 2).sum(axis=1)
        if training:
            deviation *= batches / (batches - 1)
        predicted = stats.c / size * (len(x) - size) / (len(x) - 1)
        rows += [dict(batch_size=size, batch=k, power=d, predicted=predicted, training=training)
                 for k, d in enumerate(deviation)]
    return pd.DataFrame(rows)


def smoothness(model: keras.Model, x: np.ndarray, y_onehot: np.ndarray,
               step_sizes=(0.01, 0.02, 0.05, 0.1, 0.2, 0.4), batch=None) -> dict:
    """Santurkar et al.'s landscape measurements at the model's current weights, one batch.

    Returns loss (at w), gradient_norm, loss_range (max - min loss over w - s g, s in
    {0} + step_sizes), gradient_change (max_s ||g(w - s g) - g||), beta_smoothness
    (max_s ||g(w - s g) - g|| / ||s g||), and per-step ``losses``. Weights are restored.
    """
    batch = batch or gradient_functions(model)[1]
    weights = model.trainable_variables
    clean = [keras.ops.convert_to_numpy(v).copy() for v in weights]
    loss0, grad0 = batch(x, y_onehot, True)
    norm0 = float(np.linalg.norm(grad0))
    bounds = _offsets(model)
    losses, changes, betas = [loss0], [], []
    try:
        for step in step_sizes:
            for v, c, a, b in zip(weights, clean, bounds[:-1], bounds[1:]):
                v.assign(c - step * grad0[a:b].reshape(c.shape))
            loss, grad = batch(x, y_onehot, True)
            change = float(np.linalg.norm(grad - grad0))
            losses.append(loss)
            changes.append(change)
            betas.append(change / (step * norm0) if norm0 > 0 else np.nan)
    finally:
        for v, c in zip(weights, clean):
            v.assign(c)
    finite = [value for value in losses if np.isfinite(value)]
    return dict(loss=loss0, gradient_norm=norm0,
                loss_range=(max(finite) - min(finite)) if len(finite) == len(losses) else np.inf,
                gradient_change=max(changes), beta_smoothness=max(betas),
                losses=dict(zip((0.0, *step_sizes), losses)))


def layer_gradient_norms(model: keras.Model, gradient: np.ndarray) -> pd.Series:
    """||gradient|| per kernel (conv / dense), in forward order, from a flat gradient (P,)."""
    bounds = _offsets(model)
    norms = {v.path.split("/")[0]: float(np.linalg.norm(gradient[a:b]))
             for v, a, b in zip(model.trainable_variables, bounds[:-1], bounds[1:])
             if v.path.endswith("kernel")}
    return pd.Series(norms)


def _training_pool(record: dict, pool: int, data_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """(x float32, y one-hot) of ``pool`` images of the run's own training set, un-augmented."""
    params = record["params"]
    dataset = data.load_cifar(params["dataset"], data_dir, params["train_subset"], seed=params["seed"])
    idx = data.subset_indices(dataset.y_train, pool, seed=params["seed"] + 1)
    norm = record["normalization"]
    x = data.normalize_images(dataset.x_train[idx], norm["mean"], norm["std"])
    return x, data.one_hot(dataset.y_train[idx], dataset.num_classes)


def measure_run(run_dir, pool: int = 512, batch_sizes=(8, 32, 128), batches: int = 10,
                step_sizes=(0.01, 0.02, 0.05, 0.1, 0.2, 0.4), smoothness_batch: int = 128,
                checkpoints: str = "all", seed: int = 0, data_dir=None) -> dict[str, pd.DataFrame]:
    """Gradient noise and smoothness at every kept checkpoint of a finished run.

    Returns tidy tables: ``checkpoints`` (one row per epoch: C, ||g_D||, pool loss with BN
    moving statistics, the smoothness batch's loss with batch statistics, smoothness numbers), ``minibatch`` (one row per epoch, mode, batch size and batch) and ``layers``
    (per-kernel gradient norms per epoch). ``checkpoints``: "all" kept ones, or the "last".
    """
    model, record = load_run(run_dir)
    epochs = record.get("checkpoint_epochs", [])
    if not epochs:
        raise ValueError(f"{run_dir} keeps no checkpoints; runs trained before checkpoints existed "
                         f"must be retrained (delete the run directory and run the workflow again)")
    if checkpoints == "last":
        epochs = epochs[-1:]
    x, y = _training_pool(record, pool, data_dir)
    per_sample, batch = gradient_functions(model)
    rng = np.random.default_rng(seed)
    smooth_idx = rng.choice(len(x), min(smoothness_batch, len(x)), replace=False)
    rows, minibatch_rows, layer_rows = [], [], []
    for epoch in epochs:
        model.load_weights(checkpoint_path(run_dir, epoch))
        stats = gradient_noise(model, x, y, per_sample=per_sample)
        loss, _ = batch(x, y, False)
        for training in (False, True):
            table = minibatch_noise(model, x, y, stats, batch_sizes, batches, training, seed + epoch, batch)
            minibatch_rows.append(table.assign(epoch=epoch))
        smooth = smoothness(model, x[smooth_idx], y[smooth_idx], step_sizes, batch)
        rows.append(dict(epoch=epoch, pool=len(x), c=stats.c, full_gradient_norm=stats.full_gradient_norm,
                         relative_c=stats.c / stats.full_gradient_norm ** 2, loss=loss,
                         batch_loss=smooth["loss"],
                         **{k: v for k, v in smooth.items() if k not in ("loss", "losses")}))
        norms = layer_gradient_norms(model, stats.full_gradient)
        layer_rows += [dict(epoch=epoch, layer=name, position=i, gradient_norm=value)
                       for i, (name, value) in enumerate(norms.items())]
    label = dict(run_id=record["run_id"])
    return {"checkpoints": pd.DataFrame(rows).assign(**label),
            "minibatch": pd.concat(minibatch_rows, ignore_index=True).assign(**label),
            "layers": pd.DataFrame(layer_rows).assign(**label)}


def measure_and_save(run_dir, data_dir=None, **settings) -> dict[str, pd.DataFrame]:
    """:func:`measure_run` with validated settings; writes ``<run_dir>/theory/<table>.csv``.

    The folder is written under a temporary name and renamed when complete.
    """
    settings = validate_theory_params(settings)
    tables = measure_run(run_dir, data_dir=data_dir, **settings)
    with atomic_path(resolve(run_dir) / "theory", directory=True) as tmp:
        for name, table in tables.items():
            table.to_csv(tmp / f"{name}.csv", index=False)
    return tables
