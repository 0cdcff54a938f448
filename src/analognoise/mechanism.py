"""The mechanism study: trained networks' BN diagnostics and their noise grids before and after
interventions on the trained weights (no training), exported to ``results/<name>/``.

A config (``studies/mechanism/<name>.yaml``) has ``name``, ``description``, ``data_dir``,
``test_subset``, ``seed``, ``etas``, ``repeats``, ``models`` and ``conditions``:

- ``models``: a list of entries, each with ``name`` (a reader's label), ``recipe`` (how it was
  trained), and either ``study`` + ``run`` (a committed run: ``results/<study>/models/<run>``;
  ``study`` may be the path of a results folder)
  or ``file`` + ``preprocessing`` (a Keras model file, e.g. CrossSim's; see
  :mod:`analognoise.external`);
- ``conditions``: a list of ``{variant, targets, noise_model}``: ``variant`` is ``original``
  or ``silenced`` (every dead BN channel silenced, :func:`analognoise.models.silence_dead_channels`;
  only for models that have dead channels), ``targets`` as in :mod:`analognoise.noise`,
  ``noise_model`` a spec of :mod:`analognoise.noisemodels` (``paper``, ``additive-rms``, ...).

Both variants of a model draw the same noise (the same seed and variable paths), so their
difference is paired. Written, as one folder: ``config.yaml``, ``models.csv`` (one row per
model and variant: clean accuracy and the diagnostics of :func:`analognoise.diagnostics.model_summary`),
``sites.csv`` (:func:`analognoise.diagnostics.site_table` per model), ``noise.csv`` (one row
per trial), ``clean.npz`` (which test image each model and variant gets right, for paired tests of
clean accuracy) and ``provenance.yaml``. Each (model, condition) table is kept in
``data/mechanism/<name>/`` as it is made, so a rerun resumes (add models as they are trained);
on a fresh checkout the kept tables are first taken from the committed ``results/<name>/noise.csv``
when it was made with the same noise settings, so adding a model computes only that model.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .data import check_test_subset
from .noisemodels import make_noise_model
from .params import TARGETS, validate_noise_params
from .paths import RESULTS_DIR, RUNS_DIR, project_root, resolve
from .runs import atomic_path
from .schema import Mechanism, check


def load_config(config_file) -> dict:
    """The config, every setting checked (ValueError naming the file and the setting) before
    any compute; each model entry gains ``weights`` (a committed run's weights file) or its
    checked ``file``."""
    from .external import check_model_file

    config = yaml.safe_load(resolve(config_file).read_text())
    check(Mechanism, config, str(config_file))
    check_test_subset(config.get("test_subset"))
    config["etas"] = validate_noise_params(config["etas"], config["repeats"])
    for condition in config["conditions"]:
        if condition["targets"] not in TARGETS:
            raise ValueError(f"{config_file}: targets {condition['targets']!r}: choose one of {', '.join(TARGETS)}")
        try:
            make_noise_model(condition["noise_model"]).check_levels(config["etas"])
        except ValueError as error:
            raise ValueError(f"{config_file}: condition {condition}: {error}") from error
    names = [m.get("name") for m in config["models"]]
    if len(set(names)) != len(names) or not all(names):
        raise ValueError(f"{config_file}: every model needs a unique 'name', got {names}")
    for entry in config["models"]:
        if "file" in entry:
            check_model_file(entry["file"])
            entry.setdefault("preprocessing", "per_pixel_mean")
            continue
        study = str(entry.get("study"))  # a committed study's name, or the path of a results folder
        weights = resolve(study if "/" in study else f"{RESULTS_DIR}/{study}") / "models" / f"{entry.get('run')}.weights.h5"
        if not weights.is_file():
            raise ValueError(f"{config_file}: model {entry['name']!r}: no committed weights {weights}; train the run "
                             f"and `make commit-runs STUDY={entry.get('study')}` first")
        entry["weights"] = weights
    return config


def _load(entry: dict, config: dict, runs_dir):
    """(model, x, y, facts) of one model entry."""
    from .models import bn_sites

    if "file" in entry:
        from .external import model_and_test_data, model_id

        model, x, y, source = model_and_test_data(entry["file"], "cifar10", entry["preprocessing"],
                                                  config.get("test_subset"), config.get("data_dir"))
        return model, x, y, dict(run_id=model_id(entry["file"]), bn="all" if bn_sites(model) else "none",
                                 data_source=source)
    from .devicenoise import committed_model_and_data

    model, record, x, y = committed_model_and_data(entry["weights"], config, runs_dir)
    return model, x, y, dict(run_id=record["run_id"], bn=str(record["params"]["bn"]),
                             data_source=record["data_source"])


def evaluate(config_file, dest=None, work=None, runs_dir=RUNS_DIR) -> Path:
    """Run the config (see the module docstring) and write ``results/<name>/`` (or ``dest``)."""
    import keras

    from .devicenoise import kept_table, tidy_levels, write_provenance
    from .diagnostics import model_summary, site_table
    from .models import bn_sites, fold_batchnorm, silence_dead_channels
    from .noise import Evaluator, noise_grid

    config = load_config(config_file)
    work = resolve(work or f"data/mechanism/{config['name']}")
    work.mkdir(parents=True, exist_ok=True)
    dest = resolve(dest or f"{RESULTS_DIR}/{config['name']}")
    seed_kept_tables(dest, work, config)
    started = time.perf_counter()
    noise_tables, site_tables, facts, clean = [], [], [], {}
    for entry in config["models"]:
        model, x, y, about = _load(entry, config, runs_dir)
        rid = about["run_id"]
        sites = site_table(bn_sites(model)).assign(model=entry["name"], run_id=rid)
        site_tables.append(sites)
        variants = {"original": model}
        silenced, count = silence_dead_channels(model)
        if count:
            variants["silenced"] = silenced
        for variant, network in variants.items():
            right, _ = Evaluator(network, x, y).correctness()
            clean[f"{entry['name']}|{variant}"] = right
            facts.append(dict(model=entry["name"], recipe=entry["recipe"], variant=variant,
                              depth=_depth(network), clean_accuracy=float(right.mean()),
                              silenced_channels=count if variant == "silenced" else 0, test_images=len(y),
                              **about, **model_summary(sites)))
        for condition in config["conditions"]:
            if condition["variant"] not in variants or (sites.empty and condition["targets"] == "folded"):
                continue  # nothing silenced; folding a network without BN changes nothing (= trainable)
            noise_model = make_noise_model(condition["noise_model"])
            network = variants[condition["variant"]]

            def grid(network=network, condition=condition, noise_model=noise_model):
                deployed = fold_batchnorm(network) if condition["targets"] == "folded" else network
                table = noise_grid(deployed, x, y, config["etas"], config["repeats"], condition["targets"], "tensor",
                                   config.get("seed", 0), rid, noise_model=noise_model)
                return tidy_levels(table, noise_model).assign(model=entry["name"], run_id=rid,
                                                              variant=condition["variant"], test_images=len(y))

            label = _table_label(rid, condition["variant"], noise_model.label(), condition["targets"])
            noise_tables.append(kept_table(work / f"{label}.csv", config["repeats"] * len(config["etas"]),
                                           f"{entry['name']}: {label}", grid))
        keras.backend.clear_session()
    with atomic_path(dest, directory=True) as folder:
        settings = {**config, "models": [{k: v for k, v in m.items() if k != "weights"} for m in config["models"]]}
        (folder / "config.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
        pd.DataFrame(facts).to_csv(folder / "models.csv", index=False)
        pd.concat(site_tables, ignore_index=True).to_csv(folder / "sites.csv", index=False)
        pd.concat(noise_tables, ignore_index=True).to_csv(folder / "noise.csv", index=False)
        with open(folder / "clean.npz", "wb") as f:
            np.savez_compressed(f, **{k: np.packbits(v) for k, v in clean.items()}, images=len(y))
        write_provenance(folder, started,
                         f"make mechanism MECHANISM_CONFIG={os.path.relpath(resolve(config_file), project_root())}")
    return dest


def _table_label(run_id: str, variant: str, noise_model: str, targets: str) -> str:
    """The file stem of one kept (model, condition) table."""
    return f"{run_id}-{variant}-{noise_model}-{targets}".replace(" ", "")


NOISE_SETTINGS = ("data_dir", "test_subset", "seed", "etas", "repeats")


def seed_kept_tables(results, work, config) -> int:
    """Write into ``work`` every complete (model, condition) table of the committed
    ``results/noise.csv`` that is not kept there yet, when the committed ``config.yaml`` used
    the same noise settings (:data:`NOISE_SETTINGS`); returns how many were written. A draw is
    a pure function of those settings and the model, so the committed table is the one a rerun
    would make."""
    results, work = Path(results), Path(work)
    if not (results / "noise.csv").is_file() or not (results / "config.yaml").is_file():
        return 0
    committed = yaml.safe_load((results / "config.yaml").read_text())
    if any(committed.get(key) != config.get(key) for key in NOISE_SETTINGS):
        return 0
    rows = config["repeats"] * len(config["etas"])
    written = 0
    keys = ["run_id", "variant", "noise_model", "targets"]
    for key, table in pd.read_csv(results / "noise.csv").groupby(keys, sort=False):
        path = work / f"{_table_label(*key)}.csv"
        if len(table) == rows and not path.is_file():
            with atomic_path(path) as tmp:
                table.to_csv(tmp, index=False)
            written += 1
    return written


def _depth(model) -> int:
    """A ResNet's depth, 6n + 2, from its weight layers (3x3 convs and the classifier; 1x1
    projection shortcuts are not counted)."""
    import keras

    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D) and layer.kernel_size != (1, 1)]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    return len(convs) + len(dense)


def load_clean(results) -> dict[str, np.ndarray]:
    """``"<model>|<variant>"`` -> bool (N,): which test image that model gets right, clean."""
    with np.load(resolve(results) / "clean.npz") as saved:
        images = int(saved["images"])
        return {k: np.unpackbits(saved[k], count=images).astype(bool) for k in saved.files if k != "images"}
