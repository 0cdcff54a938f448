"""Any trained Keras classifier under the study's weight noise: load and check it, feed it its
inputs as it was trained, and run the noise grid into the same tidy table as a study's run.

A model file is a Keras ``.keras`` file or a legacy ``.h5`` full-model file (Keras 2, e.g.
Sandia CrossSim's pretrained ResNets). Its inputs must be 32x32x3 images and its outputs one
score per class of the dataset. Preprocessing must match the model's training:

- ``per_pixel_mean``: (x - mean over the training images of each pixel and channel) / 255, no
  division by a standard deviation (the Keras ``cifar10_resnet`` example and CrossSim);
- ``per_channel``: (x / 255 - channel mean) / channel std over the training images (this
  project's runs).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

from . import data
from .arguments import refuse
from .params import PAPER_ETAS, validate_noise_params
from .paths import project_root, resolve
from .runs import atomic_path

PREPROCESSING = ("per_pixel_mean", "per_channel")
MODEL_SUFFIXES = (".keras", ".h5")


def model_id(model_file) -> str:
    """A stable name for a model file: its stem and a hash of its bytes (the noise seeds
    derive from it, so the same file gets the same draws wherever it lies)."""
    path = resolve(model_file)
    return f"{path.stem}-{hashlib.sha256(path.read_bytes()).hexdigest()[:8]}"


def check_model_file(model_file) -> Path:
    """The resolved path of a model file, or an error naming ``model_file`` and the fix."""
    if not model_file:
        refuse("model_file", model_file, "a .keras or legacy .h5 Keras model file", "path/to/model.keras")
    path = resolve(model_file)
    if not path.is_file():
        raise FileNotFoundError(f"model_file {path} does not exist: give the path to a .keras or .h5 file")
    if path.suffix not in MODEL_SUFFIXES or path.name.endswith(".weights.h5"):
        raise ValueError(f"model_file {path.name}: expected a Keras model file ending in "
                         f"{' or '.join(MODEL_SUFFIXES)} (weights-only files cannot be evaluated alone)")
    return path


def load_classifier(model_file, num_classes: int):
    """The Keras model in ``model_file``, checked: input 32x32x3, ``num_classes`` outputs."""
    import keras

    path = check_model_file(model_file)
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises many kinds for a file that is not a model
        raise ValueError(f"model_file {path.name} is not a Keras model that Keras "
                         f"{keras.__version__} can load ({type(error).__name__}: {str(error)[:200]})") from error
    if not isinstance(model, keras.Model):
        raise ValueError(f"model_file {path.name} holds a {type(model).__name__}, not a Keras model")
    shape = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
    if shape != (32, 32, 3):
        raise ValueError(f"model_file {path.name}: its input is {model.input_shape}, not 32x32x3 images "
                         "(batch, 32, 32, 3) as CIFAR's")
    outputs = model.output_shape[-1] if not isinstance(model.output_shape, list) else None
    if outputs != num_classes:
        raise ValueError(f"model_file {path.name}: it outputs {model.output_shape}, but the dataset has "
                         f"{num_classes} classes; pick the dataset the model was trained on")
    return model


def preprocess(images: np.ndarray, train_images: np.ndarray, method: str) -> np.ndarray:
    """uint8 images (N, 32, 32, 3) -> float32 model inputs, with statistics of
    ``train_images`` (uint8 (M, 32, 32, 3)) as ``method`` says (see the module docstring)."""
    if method == "per_pixel_mean":
        mean = train_images.mean(axis=0, dtype=np.float64).astype(np.float32)
        return (images.astype(np.float32) - mean) / 255
    if method == "per_channel":
        scaled = train_images.astype(np.float32) / 255
        mean, std = scaled.mean(axis=(0, 1, 2)), scaled.std(axis=(0, 1, 2))
        return data.normalize_images(images, mean, std)
    raise ValueError(f"preprocessing={method!r}: choose one of {', '.join(PREPROCESSING)}")


def evaluate_model(model_file, dataset: str = "cifar10", preprocessing: str = "per_pixel_mean",
                   etas=PAPER_ETAS, repeats: int = 10, targets: str = "trainable", scale: str = "tensor",
                   test_subset=None, seed: int = 0, data_dir=None, output=None,
                   batch_size: int = 1000) -> pd.DataFrame:
    """The noise grid on a trained model from a file: one row per (eta, repeat) with the
    columns of a study run's noise table (``run_id`` is :func:`model_id`), plus ``model_file``,
    ``preprocessing``, ``dataset`` and ``test_images``. Written to ``output`` (a CSV path)
    atomically if given. Every setting, the file and the dataset are checked before any
    compute."""
    from .models import fold_batchnorm
    from .noise import noise_grid, save_correctness

    etas = validate_noise_params(etas, repeats, targets, scale)
    data.check_test_subset(test_subset)
    model, x, labels, source = model_and_test_data(model_file, dataset, preprocessing, test_subset, data_dir)
    if targets == "folded":
        model = fold_batchnorm(model)
    name = model_id(model_file)
    correct = []
    table = noise_grid(model, x, labels, etas, repeats, targets, scale, seed, name, batch_size, correct=correct)
    path = check_model_file(model_file)
    shown = os.path.relpath(path, project_root())
    table.insert(0, "run_id", name)
    table["model_file"] = shown if not shown.startswith("../../") else str(path)
    table["preprocessing"], table["dataset"] = preprocessing, dataset
    table["test_images"] = len(labels)
    table["data_source"] = source
    if output:
        save_correctness(resolve(output), correct, len(labels))
        with atomic_path(output) as tmp:
            table.to_csv(tmp, index=False)
    return table


def model_and_test_data(model_file, dataset: str, preprocessing: str, test_subset=None, data_dir=None):
    """(model, x, labels, data source) for a model file: the checked model, the test images
    preprocessed as it was trained (float32 (N, 32, 32, 3)), their labels (N,) and a
    description of the dataset copy."""
    if preprocessing not in PREPROCESSING:
        refuse("preprocessing", preprocessing, f"one of {', '.join(PREPROCESSING)}", "per_pixel_mean")
    spec = data.check_dataset_name(dataset)
    data.find_dataset(dataset, data_dir)
    model = load_classifier(model_file, spec.num_classes)
    cifar = data.load_cifar(dataset, data_dir, test_subset=None)
    images, labels = data.load_test_set(dataset, data_dir, test_subset)
    return model, preprocess(images, cifar.x_train, preprocessing), labels, data.describe_source(cifar.source)


def fragility_report(model_file, dataset: str = "cifar10") -> str:
    """A short Markdown report of what in a model file will amplify weight noise, and which
    deployment avoids it (:func:`analognoise.diagnostics.fragility_report` on its BN sites)."""
    from .diagnostics import fragility_report as report, site_table
    from .models import bn_sites

    model = load_classifier(model_file, data.check_dataset_name(dataset).num_classes)
    try:
        sites = bn_sites(model)
    except ValueError as error:  # a BN that does not directly follow a conv / dense layer
        return f"**No BN diagnostics** for this model: {error}."
    return report(site_table(sites))


def model_label(model_file) -> str:
    """A reader's name for a model file: "ResNet-20" for resnet20v1_cifar10.h5, else its stem."""
    import re

    match = re.match(r"resnet(\d+)", Path(model_file).stem, re.I)
    return f"ResNet-{match.group(1)}" if match else Path(model_file).stem


def model_facts(model_file) -> dict:
    """What a model file holds: parameters, BN layers, conv/dense layers."""
    import keras

    model = keras.models.load_model(check_model_file(model_file), compile=False)
    kinds = [type(layer).__name__ for layer in model.layers]
    return dict(parameters=int(model.count_params()), bn_layers=kinds.count("BatchNormalization"),
                weight_layers=kinds.count("Conv2D") + kinds.count("Dense"))


def evaluate_models(config_file, dest=None, work=None) -> Path:
    """Every model of a pretrained-models config (``studies/pretrained/<name>.yaml``: models,
    dataset, preprocessing, data_dir, noise, optional ablation) under its noise grid and every
    ablation target; writes ``results/<name>/`` (``config.yaml``, ``models.csv``, ``noise.csv``,
    ``provenance.yaml``, ``correct/``) atomically and returns it. Each (model, targets) table is
    kept in ``work`` (default ``data/external/<name>/``) as it is made, so a rerun resumes."""
    import platform
    import shutil
    import time

    import keras
    import yaml

    from .noise import correctness_path
    from .paths import RESULTS_DIR

    from .schema import Pretrained, check

    config = yaml.safe_load(resolve(config_file).read_text())
    check(Pretrained, config, str(config_file))
    noise_settings = dict(config["noise"])
    main_targets = noise_settings.pop("targets", "trainable")
    ablation = config.get("ablation") or {}
    plan = [(main_targets, noise_settings["repeats"])] + [
        (t, ablation.get("repeats", noise_settings["repeats"])) for t in ablation.get("targets", [])]
    for model_file in config["models"]:  # every file checked before any compute
        try:
            check_model_file(model_file)
        except (ValueError, FileNotFoundError) as error:
            raise type(error)(f"{config_file}: models: {error}") from error
    tables, facts, started = [], [], time.perf_counter()
    work = resolve(work or f"data/external/{config['name']}")  # one table per (model, targets): a rerun resumes
    for model_file in config["models"]:
        facts.append(dict(run_id=model_id(model_file), model=model_label(model_file),
                          model_file=os.path.relpath(resolve(model_file), project_root()), **model_facts(model_file)))
        for targets, repeats in plan:
            table_path = work / f"{model_id(model_file)}-{targets}.csv"
            if table_path.is_file() and len(pd.read_csv(table_path)) == repeats * len(noise_settings["etas"]):
                print(f"{Path(model_file).name}: noise on {targets} (done before: {table_path})", flush=True)
            else:
                print(f"{Path(model_file).name}: noise on {targets}", flush=True)
                evaluate_model(model_file, config["dataset"], config["preprocessing"], noise_settings["etas"], repeats,
                               targets, noise_settings["scale"], noise_settings.get("test_subset"),
                               noise_settings.get("seed", 0), config.get("data_dir"), output=table_path)
            tables.append(table_path)
    noise = pd.concat([pd.read_csv(path) for path in tables], ignore_index=True)
    models = pd.DataFrame(facts).merge(noise[noise.eta == 0].groupby("run_id").clean_accuracy.first().reset_index())
    dest = resolve(dest or f"{RESULTS_DIR}/{config['name']}")
    with atomic_path(dest, directory=True) as folder:
        shutil.copyfile(resolve(config_file), folder / "config.yaml")
        models.to_csv(folder / "models.csv", index=False)
        noise.to_csv(folder / "noise.csv", index=False)
        for path in tables:  # which test image each trial got right (noise.load_correctness)
            (folder / "correct").mkdir(exist_ok=True)
            shutil.copyfile(correctness_path(path), correctness_path(folder / "correct" / path.name))
        provenance = dict(exported=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                          machine=f"{platform.machine()}, {os.cpu_count()} CPU cores",
                          frameworks=f"keras {keras.__version__} ({keras.backend.backend()})",
                          seconds=round(time.perf_counter() - started, 1),
                          data_source=noise.data_source.iloc[0],
                          regenerate=f"make pretrained CONFIG={os.path.relpath(resolve(config_file), project_root())}")
        (folder / "provenance.yaml").write_text(yaml.safe_dump(provenance, sort_keys=False))
    return dest
