"""The run directory: its layout, its record, loading a run and its checkpoints, committed
weights and partial runs, and atomic writes.

A finished run ``data/runs/<run_id>/`` holds ``params.yaml`` (the record: parameters and
results), ``model.keras``, ``history.csv`` (one row per epoch), ``checkpoints/epoch-NNNN.weights.h5``
(initialisation, epochs 1, 2, 4, 8, ... and the last), and what later steps add: ``noise.csv``,
``noise-<targets>.csv`` and ``theory/``. A run still training is ``<run_id>.partial/``, with
``state.weights.h5`` (weights and optimizer state after the last finished epoch) and
``state.json``; it is renamed to ``<run_id>/`` only when complete.

Runs travel through a study's committed results (``results/<study>/``):
``models/<run_id>.weights.h5`` with ``models/<run_id>.yaml`` (the record) is a finished run that
a fresh clone uses without training, and ``partial/<run_id>/`` a run that another machine
resumes where it stopped.

Keras is imported only by the functions that load models, so the analysis can read records
without TensorFlow.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

import yaml

from .paths import RESULTS_DIR, RUNS_DIR, project_root, resolve

RECORD = "params.yaml"
MODEL = "model.keras"
HISTORY = "history.csv"
STATE = "state.weights.h5"
STATE_INFO = "state.json"


@contextlib.contextmanager
def atomic_path(target, directory: bool = False):
    """Yield a temporary path beside ``target`` to write to (a file, or with ``directory`` a
    folder, created empty); it replaces ``target`` only if the block finishes, so a reader
    never sees a half-written result."""
    target = resolve(target)
    tmp = target.with_name(f".tmp-{target.name}")  # keeps the suffix Keras checks (.weights.h5)
    if tmp.is_dir():
        shutil.rmtree(tmp)
    tmp.unlink(missing_ok=True)
    if directory:
        tmp.mkdir(parents=True)
    else:
        tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield tmp
        if directory and target.is_dir():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp)
        elif tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def training_lock(run_id: str, runs_dir=None):
    """Hold ``<runs_dir>/<run_id>.lock`` (an exclusive ``flock``) while training run
    ``run_id``, so that two processes asked for the same run (a search and a study side by
    side, two cluster jobs) never write one run folder at once: the second waits, then finds
    the finished run. The lock file is removed once the run is finished (a process still
    waiting on it then finds the finished run too)."""
    import fcntl

    path = resolve(runs_dir or RUNS_DIR) / f"{run_id}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"{run_id}: another process is training it; waiting for it to finish", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
            if (run_dir(run_id, runs_dir) / RECORD).is_file():
                path.unlink(missing_ok=True)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_dir(run_id: str, runs_dir=None) -> Path:
    return resolve(runs_dir or RUNS_DIR) / run_id


def partial_dir(run_id: str, runs_dir=None) -> Path:
    return resolve(runs_dir or RUNS_DIR) / f"{run_id}.partial"


def checkpoint_path(run_dir, epoch: int) -> Path:
    """Where the weights after ``epoch`` (0 = initialisation) of a run are kept."""
    return resolve(run_dir) / "checkpoints" / f"epoch-{epoch:04d}.weights.h5"


def noise_path(run_dir, targets: str | None = None) -> Path:
    """The run's noise table: ``noise.csv`` (the study's main targets) or ``noise-<targets>.csv``."""
    return resolve(run_dir) / ("noise.csv" if targets is None else f"noise-{targets}.csv")


def read_record(run_dir) -> dict:
    """The ``params.yaml`` record of a finished run directory (parameters and results)."""
    run_dir = resolve(run_dir)
    if not (run_dir / RECORD).exists():
        raise FileNotFoundError(
            f"{run_dir} is not a finished run (no {RECORD}); train it with notebooks/steps/train.ipynb"
        )
    return yaml.safe_load((run_dir / RECORD).read_text())


def write_record(run_dir, record: dict) -> None:
    with atomic_path(resolve(run_dir) / RECORD) as tmp:
        tmp.write_text(yaml.safe_dump(record, sort_keys=False))


def run_data_dir(params: dict, data_dir=None):
    """The dataset folder of a run: its own ``data_dir`` parameter (relative to the project
    root) where it has one, else ``data_dir`` (None: the usual search)."""
    return resolve(params["data_dir"]) if params.get("data_dir") else data_dir


def load_run(run_dir):
    """(Keras model for inference, record) of a finished run directory."""
    import warnings

    import keras

    record = read_record(run_dir)
    # compile=False: the trained network for inference; the file's optimizer state (kept for
    # whoever trains it further) is not loaded, which Keras reports as a warning
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model = keras.models.load_model(resolve(run_dir) / MODEL, compile=False)
    return model, record


def load_test_data(record: dict, test_subset: int | str | None = None, data_dir=None):
    """(x float32 (N, 32, 32, 3) normalised with the run's training statistics, y (N,)), from
    the run's own dataset copy (see :func:`run_data_dir`); ``test_subset`` as in
    :func:`analognoise.data.load_test_set`."""
    from . import data

    images, labels = data.load_test_set(record["params"]["dataset"],
                                        run_data_dir(record["params"], data_dir), test_subset)
    norm = record["normalization"]
    return data.normalize_images(images, norm["mean"], norm["std"]), labels


def build_from_record(record: dict):
    """The run's network (untrained, uncompiled) as its record describes it."""
    from .data import check_dataset_name
    from .models import build_model

    p = record["params"]
    return build_model(p["arch"], p["depth"], check_dataset_name(p["dataset"]).num_classes, p["bn"],
                       p["weight_decay"], p.get("width", 1), p.get("zero_init_residual", False),
                       p.get("shortcut_bn", True))


def checkpoint_diagnostics(run_dir, params: dict | None = None):
    """The BN diagnostics (:func:`analognoise.diagnostics.model_summary`) of every kept
    checkpoint of a run, finished or still training (``<run_id>.partial/``; give its
    ``params``, which a finished run reads from its record): one row per checkpoint with its
    ``epoch`` (0: the initialisation), in epoch order. Empty for a network without BN."""
    import pandas as pd

    from .diagnostics import model_summary, site_table
    from .models import bn_sites

    params = params or read_record(run_dir)["params"]
    model = build_from_record({"params": params})
    rows = []
    for path in sorted((resolve(run_dir) / "checkpoints").glob("epoch-*.weights.h5")):
        model.load_weights(path)
        sites = bn_sites(model)
        if not sites:
            break
        rows.append(dict(epoch=int(path.name[len("epoch-"):-len(".weights.h5")]), **model_summary(site_table(sites))))
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ runs that travel
def committed_models(run_id: str) -> list[Path]:
    """Committed weights of this run in any study's results (``results/*/models/<run_id>.weights.h5``)."""
    return sorted(resolve(RESULTS_DIR).glob(f"*/models/{run_id}.weights.h5"))


def committed_partial(run_id: str) -> list[Path]:
    """Committed partial states of this run (``results/*/partial/<run_id>/``)."""
    return sorted(p for p in resolve(RESULTS_DIR).glob(f"*/partial/{run_id}") if (p / STATE_INFO).is_file())


def export_model(run_dir, dest) -> Path:
    """Write a finished run's trained weights and record to ``dest/<run_id>.weights.h5`` and
    ``dest/<run_id>.yaml`` (a study's ``results/<study>/models/``), its history, and (a BN
    network trained here) the BN diagnostics of its kept checkpoints to
    ``dest/<run_id>.diagnostics.csv`` (:func:`checkpoint_diagnostics`: dead channels along training)."""
    model, record = load_run(run_dir)
    restored = "restored_from" in record
    record = {k: v for k, v in record.items() if k != "restored_from"}  # a restored run exports its own record
    dest = resolve(dest)
    dest.mkdir(parents=True, exist_ok=True)
    rid = record["run_id"]
    with atomic_path(dest / f"{rid}.weights.h5") as tmp:
        model.save_weights(tmp)
    with atomic_path(dest / f"{rid}.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(record, sort_keys=False))
    shutil.copyfile(resolve(run_dir) / HISTORY, dest / f"{rid}.history.csv")
    if not restored:  # a restored run keeps only its last checkpoint: the committed table stays
        diagnostics = checkpoint_diagnostics(run_dir, record["params"])
        if len(diagnostics):
            with atomic_path(dest / f"{rid}.diagnostics.csv") as tmp:
                diagnostics.to_csv(tmp, index=False)
    return dest / f"{rid}.weights.h5"


def restore_model(weights: Path, runs_dir=RUNS_DIR) -> Path:
    """Make a finished run directory from committed weights (see :func:`export_model`):
    the network rebuilt from the record, the weights loaded, ``model.keras``, the record and
    the history written. Returns the run directory."""
    weights = Path(weights)
    rid = weights.name.removesuffix(".weights.h5")
    record = yaml.safe_load(weights.with_name(f"{rid}.yaml").read_text())
    model = build_from_record(record)
    model.load_weights(weights)
    target = run_dir(rid, runs_dir)
    with atomic_path(target, directory=True) as tmp:
        model.save(tmp / MODEL)
        last = checkpoint_path(tmp, record["params"]["epochs"])  # the trained weights are its last checkpoint
        last.parent.mkdir()
        model.save_weights(last)
        shutil.copyfile(weights.with_name(f"{rid}.history.csv"), tmp / HISTORY)
        origin = os.path.relpath(weights, project_root())
        (tmp / RECORD).write_text(yaml.safe_dump({**record, "restored_from": origin}, sort_keys=False))
    return target


def export_partial(partial, dest, params: dict | None = None) -> Path:
    """Copy a run still training (its last finished epoch: state, history, kept checkpoints)
    to ``dest/<run_id>/`` (a study's ``results/<study>/partial/``), from where another machine
    resumes it (see :func:`import_partial`). Given the run's ``params``, the BN diagnostics of
    its kept checkpoints go with it (``diagnostics.csv``, :func:`checkpoint_diagnostics`)."""
    partial = resolve(partial)
    rid = partial.name.removesuffix(".partial")
    if not (partial / STATE_INFO).is_file():
        raise FileNotFoundError(f"{partial} has no finished epoch to export yet")
    with atomic_path(resolve(dest) / rid, directory=True) as tmp:
        for name in (STATE, STATE_INFO, HISTORY):
            shutil.copy2(partial / name, tmp / name)
        if (partial / "checkpoints").is_dir():
            shutil.copytree(partial / "checkpoints", tmp / "checkpoints")
            diagnostics = checkpoint_diagnostics(partial, params) if params else ()
            if len(diagnostics):
                diagnostics.to_csv(tmp / "diagnostics.csv", index=False)
    return resolve(dest) / rid


def import_partial(source, runs_dir=RUNS_DIR) -> Path:
    """Copy a committed partial run into ``runs_dir`` as ``<run_id>.partial/``, where training
    resumes it; returns that folder."""
    source = Path(source)
    target = partial_dir(source.name, runs_dir)
    with atomic_path(target, directory=True) as tmp:
        shutil.rmtree(tmp)
        shutil.copytree(source, tmp)
    return target


def epochs_done(partial) -> int:
    """Epochs finished by a partial run (0 if none)."""
    state = resolve(partial) / STATE_INFO
    return json.loads(state.read_text())["epochs_done"] if state.is_file() else 0


def export_runs(run_ids, dest, partial: bool = True, params: dict | None = None) -> dict[str, str]:
    """Commit a study's runs into its results folder ``dest`` (``results/<study>/``): each
    finished run's weights and record to ``models/`` (its partial state, if one was committed,
    is removed), and with ``partial`` each run still training to ``partial/`` (its last finished
    epoch; with its BN diagnostics where ``params``, run id -> parameters, has the run). A finished run another study has committed (a run two studies share, such as a
    baseline) is not copied again. Returns run id -> "model", "model (committed in <folder>)",
    "partial (N epochs)", "training (not committed)" or "not started"."""
    dest = resolve(dest)
    done = {}
    for rid in run_ids:
        trained_epochs = epochs_done(partial_dir(rid))
        if (run_dir(rid) / RECORD).is_file():
            elsewhere = [p.parent.parent for p in committed_models(rid) if p.parent != dest / "models"]
            if elsewhere and not (dest / "models" / f"{rid}.weights.h5").is_file():
                done[rid] = f"model (committed in {elsewhere[0].name})"
            else:
                export_model(run_dir(rid), dest / "models")
                done[rid] = "model"
            shutil.rmtree(dest / "partial" / rid, ignore_errors=True)
        elif trained_epochs and partial:
            export_partial(partial_dir(rid), dest / "partial", (params or {}).get(rid))
            done[rid] = f"partial ({trained_epochs} epochs)"
        else:
            done[rid] = "training (not committed)" if trained_epochs else "not started"
    return done


def prune_models(dest, keep) -> list[str]:
    """Remove from ``dest/models/`` (a study's committed results) the weights, record and
    history of every run whose id is not in ``keep``; returns the removed run ids, sorted."""
    models, keep = resolve(dest) / "models", set(keep)
    removed = sorted({p.name.removesuffix(".weights.h5") for p in models.glob("*.weights.h5")} - keep)
    for rid in removed:
        for suffix in (".weights.h5", ".yaml", ".history.csv", ".diagnostics.csv"):
            (models / f"{rid}{suffix}").unlink(missing_ok=True)
    return removed
