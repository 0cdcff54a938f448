"""Every committed result in one tidy table, for questions the book does not ask: each noise
trial of every committed study's runs (``results/<study>/study.yaml``) and of the pretrained
models (``results/<name>/models.csv``), labelled with where it comes from. No TensorFlow."""
from __future__ import annotations

import pandas as pd

from .. import metrics
from ..paths import RESULTS_DIR, resolve
from .store import load_results
from .tables import is_trained

#: the columns every row of :func:`committed_trials` has
COLUMNS = ["source", "run_id", "model", "variant", "bn", "seed", "train_noise", "dataset", "clean_accuracy", "targets",
           "eta", "repeat", "accuracy", "normalized_accuracy", "test_images"]


def committed_trials(results_dir=RESULTS_DIR) -> pd.DataFrame:
    """One row per noise trial of every committed study and pretrained-models folder under
    ``results_dir``: ``source`` (the folder), ``model``, ``variant`` (BN, no BN, partial BN),
    ``seed`` (training seed), ``train_noise`` (eta_train of noise-aware training, 0: none),
    ``targets``, ``eta``, ``repeat``, accuracies (fractions) and ``test_images``."""
    root = resolve(results_dir)
    parts = []
    for study in sorted(root.glob("*/study.yaml")):
        _, noise = load_results(study.parent, all_targets=True)
        noise = noise.assign(source=study.parent.name)
        if "train_noise" not in noise:
            noise["train_noise"] = 0.0
        parts.append(noise)
    for models in sorted(root.glob("*/models.csv")):
        noise_file = models.parent / "noise.csv"
        table = pd.read_csv(models)
        if not noise_file.is_file() or "model_file" not in table:  # only the pretrained-models folders
            continue
        noise = pd.read_csv(noise_file).drop(columns=["model"], errors="ignore").merge(table[["run_id", "model"]])
        parts.append(noise.assign(source=models.parent.name, variant="BN", bn="all", seed=0, train_noise=0.0))
    trials = pd.concat(parts, ignore_index=True)
    return trials[COLUMNS]


def at_level(trials: pd.DataFrame, eta: float, targets: str = "trainable", trained_only: bool = True) -> pd.DataFrame:
    """Per trained model (source and run): its BN placement, clean accuracy and the accuracy and
    normalised accuracy at ``eta`` on ``targets`` (%), the accuracy with a 95% CI over the noise
    draws of that one model, sorted by the normalised accuracy. ``trained_only`` leaves out the
    models that did not train (:func:`analognoise.analysis.is_trained`), whose noisy accuracy stays
    at chance and so keeps "everything"."""
    chosen = trials[(trials.targets == targets) & ((trials.eta - eta).abs() < 1e-9)]
    rows = []
    for (source, run_id), g in chosen.groupby(["source", "run_id"]):
        first = g.iloc[0]
        if trained_only and not is_trained(first.clean_accuracy, first.dataset):
            continue
        accuracy, normalised = (metrics.mean_ci(g[c]) for c in ("accuracy", "normalized_accuracy"))
        rows.append({"source": source, "model": first.model, "BN": first.bn, "seed": int(first.seed),
                     "eta_train": first.train_noise, "clean (%)": round(100 * first.clean_accuracy, 1),
                     f"accuracy at {100 * eta:g}% (%)": f"{100 * accuracy[0]:.1f} [{100 * accuracy[1]:.1f}, "
                                                        f"{100 * accuracy[2]:.1f}]",
                     "kept (%)": round(100 * normalised[0], 1), "draws": len(g)})
    return pd.DataFrame(rows).sort_values("kept (%)", ascending=False, ignore_index=True) if rows else pd.DataFrame()
