"""The device-noise evaluation: a study's committed trained models under each noise model of a
config, their per-layer sensitivity and max|W| / std(W) table, exported to ``results/<name>/``.

A config (``studies/device/<name>.yaml``) has ``name``, ``description``, ``study`` (whose
committed models, ``results/<study>/models/``, are evaluated; or the path of a results folder), optionally ``runs`` (run ids;
default every committed model of the study), ``data_dir``, ``test_subset``, ``seed``,
``targets`` (a list: each noise model runs on each), ``noise_models`` (a list of
``{noise_model: spec, etas: [...], repeats: N}``; spec as in :mod:`analognoise.noisemodels`,
``etas`` its levels) and optionally ``sensitivity`` (``{eta, repeats, targets, modes}``, the
paper's noise one site at a time: :func:`analognoise.sensitivity.layer_sensitivity`) and
``recalibration`` (``{images: [...], batch_size, targets: [...], noise_models: [...]}``: the BN
models under those noise models with their BN statistics re-estimated after every trial from
that many training images, :mod:`analognoise.recalibration`; models without BN have nothing to
recalibrate. ``targets`` ``folded`` is "recalibrate, then fold": the noise hits the folded
kernels and biases and a digital per-channel gain and offset where each BN was is re-estimated;
the models without BN get the same calibration at the same sites, with the same images,
:func:`analognoise.recalibration.calibrated_deployment`).

Written (atomically, as one folder): ``config.yaml`` (as run, defaults filled in), ``models.csv`` (one row per run),
``noise.csv`` (one row per trial: run_id, noise_model, targets, level_name, level, level_unit,
repeat, accuracy, normalized_accuracy, ...), ``recalibration.csv`` (the same, with
``calibration_images``), ``sensitivity.csv``, ``scale_ratios.csv`` and
``provenance.yaml``. Each (run, noise model, targets) table is kept in ``data/device/<name>/``
as it is made, so a rerun resumes.
"""
from __future__ import annotations

import functools
import os
import platform
import time
from pathlib import Path
from typing import Callable

import pandas as pd
import yaml

from .data import check_test_subset
from .noisemodels import make_noise_model
from .params import TARGETS, validate_noise_params
from .paths import RESULTS_DIR, RUNS_DIR, project_root, resolve
from .runs import atomic_path
from .schema import Device, Recalibration, Sensitivity, check



def load_config(config_file) -> dict:
    """The config, every setting checked (ValueError naming it) before any compute; the runs
    resolved to their committed weights (``weights``: run id -> path)."""
    config = yaml.safe_load(resolve(config_file).read_text())
    check(Device, config, str(config_file))
    check_test_subset(config.get("test_subset"))
    config.setdefault("targets", ["trainable"])
    bad = [t for t in config["targets"] if t not in TARGETS]
    if bad:
        raise ValueError(f"{config_file}: targets {bad} unknown; choose from {', '.join(TARGETS)}")
    _check_noise_models(config_file, config["noise_models"])
    if config.get("sensitivity") is not None:
        config["sensitivity"] = Sensitivity.model_validate(config["sensitivity"]).model_dump()
        sensitivity = config["sensitivity"]
        validate_noise_params([sensitivity["eta"]], sensitivity["repeats"], sensitivity["targets"])
    if config.get("recalibration") is not None:
        recalibration = Recalibration.model_validate(config["recalibration"]).model_dump()
        bad = [t for t in recalibration["targets"] if t not in TARGETS]
        if bad:
            raise ValueError(f"{config_file}: recalibration targets {bad}: choose from {', '.join(TARGETS)}")
        recalibration["noise_models"] = config["recalibration"]["noise_models"]
        _check_noise_models(config_file, recalibration["noise_models"])
        config["recalibration"] = recalibration
    study = str(config["study"])
    models = resolve(study if "/" in study else f"{RESULTS_DIR}/{study}") / "models"
    committed = {p.name.removesuffix(".weights.h5"): p for p in sorted(models.glob("*.weights.h5"))}
    runs = config.get("runs") or sorted(committed)
    missing = [r for r in runs if r not in committed]
    if missing or not runs:
        raise ValueError(f"{config_file}: no committed weights for {missing or 'any run'} in {models}: "
                         f"train them and `make commit-runs STUDY={config['study']}` first")
    config["weights"] = {r: committed[r] for r in runs}
    return config


def _check_noise_models(config_file, entries) -> None:
    for number, entry in enumerate(entries):
        try:
            entry["etas"] = make_noise_model(entry["noise_model"]).check_levels(entry["etas"])
            validate_noise_params([0.0], entry["repeats"])
        except ValueError as error:
            raise ValueError(f"{config_file}: noise_models entry {number}: {error}") from error


def calibration_images(record: dict, count: int, data_dir=None, seed: int = 0):
    """``count`` training images of a run's dataset (a fixed random choice, so a smaller count
    is the start of a larger one), normalised as the run's inputs: float32 (count, 32, 32, 3)."""
    import numpy as np

    from .data import load_cifar, normalize_images
    from .runs import run_data_dir

    train = load_cifar(record["params"]["dataset"], run_data_dir(record["params"], data_dir)).x_train
    chosen = np.random.default_rng(seed).permutation(len(train))[:count]
    norm = record["normalization"]
    return normalize_images(train[chosen], norm["mean"], norm["std"])


def committed_model_and_data(weights: Path, config: dict, runs_dir):
    """A committed run's model (restored into ``runs_dir`` from its weights if missing), its
    record and the config's test images and labels."""
    from .runs import load_run, load_test_data, restore_model, run_dir

    directory = run_dir(weights.name.removesuffix(".weights.h5"), runs_dir)
    if not (directory / "model.keras").is_file():
        directory = restore_model(weights, runs_dir)
    model, record = load_run(directory)
    x, y = load_test_data(record, config.get("test_subset"), config.get("data_dir"))
    return model, record, x, y


def tidy_levels(table: pd.DataFrame, noise_model) -> pd.DataFrame:
    """A noise table with its level column as ``level`` + ``level_name`` + ``level_unit``."""
    table = table.rename(columns={noise_model.level_name: "level"})
    table.insert(table.columns.get_loc("level"), "level_name", noise_model.level_name)
    table.insert(table.columns.get_loc("level") + 1, "level_unit", noise_model.level_unit)
    return table


def kept_table(path: Path, rows: int | None, what: str, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """The table kept at ``path`` if it is complete (``rows`` rows; None: any), else the one
    ``compute()`` makes, written there atomically first (``what`` is printed as it starts): a
    rerun resumes with the tables not yet made."""
    if not (path.is_file() and (rows is None or len(pd.read_csv(path)) == rows)):
        print(what, flush=True)
        table = compute()
        with atomic_path(path) as tmp:
            table.to_csv(tmp, index=False)
    return pd.read_csv(path)


def _recalibrated(model, record, x, y, rid, config, work) -> list[pd.DataFrame]:
    """The recalibration grid of one model (see the module docstring): one table per (noise
    model, targets, calibration images), each kept in ``work`` as it is made; a model without
    BN only on ``folded`` targets, where it has a per-channel calibration to recalibrate."""
    from .noise import noise_grid
    from .recalibration import BatchNormRecalibration, calibrated_deployment

    settings = config["recalibration"]
    pool = calibration_images(record, max(settings["images"]), config.get("data_dir"), config.get("seed", 0))
    calibrated = functools.cache(lambda: calibrated_deployment(model, pool, settings["batch_size"]))
    deployments = [t for t in settings["targets"] if record["params"]["bn"] != "none" or t == "folded"]
    tables = []
    for entry in settings["noise_models"]:
        noise_model = make_noise_model(entry["noise_model"])
        for targets in deployments:
            for count in settings["images"]:
                def grid(count=count, noise_model=noise_model, entry=entry, targets=targets):
                    network = calibrated() if targets == "folded" else model
                    recalibrate = BatchNormRecalibration(network, pool[:count], settings["batch_size"])
                    table = noise_grid(network, x, y, entry["etas"], entry["repeats"], targets, "tensor",
                                       config.get("seed", 0), rid, noise_model=noise_model, recalibrate=recalibrate)
                    return tidy_levels(table, noise_model).assign(run_id=rid, test_images=len(y))

                tables.append(kept_table(
                    work / f"{rid}-recalibrated{count}-{noise_model.label()}-{targets}.csv".replace(" ", ""),
                    entry["repeats"] * len(entry["etas"]),
                    f"{rid}: {noise_model.label()} on {targets}, recalibrated on {count} images", grid))
    return tables


def evaluate(config_file, dest=None, work=None, runs_dir=RUNS_DIR) -> Path:
    """Run the config (see the module docstring) and write ``results/<name>/`` (or ``dest``);
    returns it. A committed model is evaluated from its run in ``runs_dir``, restored there
    from the committed weights if missing."""
    import keras

    from .models import fold_batchnorm
    from .noise import noise_grid, scale_ratios
    from .sensitivity import layer_sensitivity

    config = load_config(config_file)
    work = resolve(work or f"data/device/{config['name']}")
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    noise_tables, sensitivity_tables, ratio_tables, recalibration_tables, facts = [], [], [], [], []
    for rid, weights in config["weights"].items():
        model, record, x, y = committed_model_and_data(weights, config, runs_dir)
        folded = functools.cache(lambda model=model: fold_batchnorm(model))  # once per model, when first needed
        facts.append(dict(run_id=rid, model=record["model"], bn=str(record["params"]["bn"]),
                          seed=record["params"]["seed"], train_noise=float(record["params"].get("train_noise", 0.0)),
                          test_images=len(y), data_source=record["data_source"]))
        ratio_tables.append(scale_ratios(model, "kernels").assign(run_id=rid))
        for entry in config["noise_models"]:
            noise_model = make_noise_model(entry["noise_model"])
            for targets in config["targets"]:
                def grid(targets=targets, noise_model=noise_model, entry=entry):
                    network = folded() if targets == "folded" else model
                    table = noise_grid(network, x, y, entry["etas"], entry["repeats"], targets, "tensor",
                                       config.get("seed", 0), rid, noise_model=noise_model)
                    return tidy_levels(table, noise_model).assign(run_id=rid, test_images=len(y))

                noise_tables.append(kept_table(work / f"{rid}-{noise_model.label()}-{targets}.csv".replace(" ", ""),
                                                entry["repeats"] * len(entry["etas"]),
                                                f"{rid}: {noise_model.label()} on {targets}", grid))
        if config.get("sensitivity"):
            settings = config["sensitivity"]
            sensitivity_tables.append(kept_table(
                work / f"{rid}-sensitivity.csv", None, f"{rid}: per-layer sensitivity",
                lambda settings=settings: layer_sensitivity(model, x, y, settings["eta"], settings["repeats"],
                                                            settings["targets"], "tensor", config.get("seed", 0), rid,
                                                            modes=settings["modes"]).assign(run_id=rid)))
        if config.get("recalibration"):
            recalibration_tables += _recalibrated(model, record, x, y, rid, config, work)
        keras.backend.clear_session()
    dest = resolve(dest or f"{RESULTS_DIR}/{config['name']}")
    with atomic_path(dest, directory=True) as folder:
        settings = {k: v for k, v in config.items() if k != "weights"}  # as run: defaults filled in
        (folder / "config.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
        pd.DataFrame(facts).to_csv(folder / "models.csv", index=False)
        pd.concat(noise_tables, ignore_index=True).to_csv(folder / "noise.csv", index=False)
        pd.concat(ratio_tables, ignore_index=True).to_csv(folder / "scale_ratios.csv", index=False)
        if recalibration_tables:
            pd.concat(recalibration_tables, ignore_index=True).to_csv(folder / "recalibration.csv", index=False)
        if sensitivity_tables:
            pd.concat(sensitivity_tables, ignore_index=True).to_csv(folder / "sensitivity.csv", index=False)
        write_provenance(folder, started, f"make device DEVICE_CONFIG={os.path.relpath(resolve(config_file), project_root())}")
    return dest


def write_provenance(folder: Path, started: float, regenerate: str) -> None:
    """``folder/provenance.yaml``: when and where a results folder was made, with which Keras, in
    how many seconds since ``started`` (a :func:`time.perf_counter` value), and the command that
    makes it again."""
    import keras

    provenance = dict(exported=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                      machine=f"{platform.machine()}, {os.cpu_count()} CPU cores",
                      frameworks=f"keras {keras.__version__} ({keras.backend.backend()})",
                      seconds=round(time.perf_counter() - started, 1), regenerate=regenerate)
    (folder / "provenance.yaml").write_text(yaml.safe_dump(provenance, sort_keys=False))
