"""Per-layer sensitivity: a trained model under weight noise on one weight layer at a time, and
on every weight layer but one, to find which layers carry the accuracy loss (and BN's penalty).

A *site* is one conv or dense layer together with the BN layer that normalises its output (if
any): noise on a site hits the layer's kernel and bias and, with ``targets="trainable"`` or
``"all"``, its BN parameters. Sites are numbered in forward order (``depth``, 1 = the stem), so a
BN model and its no-BN twin share site names and depths.
"""
from __future__ import annotations

import keras
import numpy as np
import pandas as pd

from .models import bn_follows
from .noise import Evaluator, WeightNoise, noise_grid
from .params import validate_noise_params

MODES = ("only", "all_but")


def noise_sites(model: keras.Model) -> pd.DataFrame:
    """The model's sites in forward order: site (the conv/dense layer's name), depth (1-based),
    kind (``conv`` or ``dense``), layers (the site's layer names: the layer and its BN)."""
    follows = bn_follows(model)
    rows = []
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            names = [layer.name] + ([follows[layer.name].name] if layer.name in follows else [])
            kind = "dense" if isinstance(layer, keras.layers.Dense) else "conv"
            rows.append(dict(site=layer.name, depth=len(rows) + 1, kind=kind, layers=names))
    return pd.DataFrame(rows)


def layer_sensitivity(model: keras.Model, x: np.ndarray, y: np.ndarray, eta: float = 0.2,
                      repeats: int = 5, targets: str = "trainable", scale: str = "tensor",
                      seed: int = 0, run_id: str = "", noise_model=None, modes=MODES,
                      batch_size: int = 1000, progress: bool = True) -> pd.DataFrame:
    """Noise at one level on each site alone (mode ``only``) and on every site but that one
    (``all_but``), ``repeats`` draws each. ``x``: float32 (N, 32, 32, 3) model inputs, ``y``:
    int labels (N,).

    Returns the noise table of :func:`analognoise.noise.noise_grid` for every (site, mode),
    with columns site, depth, kind and mode added. Trials use the seeds of the full-model grid
    (same run id, level and repeat) and per-tensor generators, so a site's draws are the very
    draws it gets when the whole model is noisy: the rows of a site and of the whole model are
    paired."""
    validate_noise_params([eta], repeats, targets, scale)
    unknown = sorted(set(modes) - set(MODES))
    if unknown or not modes:
        raise ValueError(f"modes={list(modes)!r}: choose from {', '.join(MODES)}")
    sites = noise_sites(model)
    noisy_layers = {t.layer for t in WeightNoise(model, targets, scale, noise_model).targets}
    clean = Evaluator(model, x, y, batch_size).correctness()
    tables = []
    for site in sites.itertuples():
        done = len(tables)
        for mode in modes:
            layers = set(site.layers) if mode == "only" else noisy_layers - set(site.layers)
            if not layers & noisy_layers:
                continue  # nothing of this site is a noise target
            table = noise_grid(model, x, y, [eta], repeats, targets, scale, seed, run_id,
                               batch_size, progress=False, noise_model=noise_model,
                               layers=layers & noisy_layers, clean=clean)
            table.insert(0, "mode", mode)
            table.insert(0, "kind", site.kind)
            table.insert(0, "depth", site.depth)
            table.insert(0, "site", site.site)
            tables.append(table)
        if progress:
            print(f"{site.site}: " + ", ".join(f"{t['mode'].iat[0]} {t['accuracy'].mean():.4f}"
                                               for t in tables[done:]), flush=True)
    return pd.concat(tables, ignore_index=True)
