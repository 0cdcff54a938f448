"""Commit a study's runs as they stand into its results folder: weights, partial states and the tidy results of its finished runs, under the study's ``weights:`` policy."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from . import runs
from .analysis import export_results, finished_cells, front_run_ids
from .paths import RESULTS_DIR, resolve
from .schema import Commit
from .studies import expand, load_study

#: the folders of a study's results that hold weights and training states
WEIGHT_FOLDERS = ("models", "partial")


def _megabytes(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2 ** 20 if folder.is_dir() else 0.0


def _over_limit(dest: Path, max_file_mb: float) -> dict[str, str]:
    """Remove every weights or training-state file over ``max_file_mb`` from ``dest``'s weight
    folders (a run still training loses its whole state: it could not resume without it); run
    id -> what was left out and how to make it again."""
    left_out = {}
    for folder in WEIGHT_FOLDERS:
        for path in sorted((dest / folder).rglob("*.h5")):
            size = path.stat().st_size / 2 ** 20
            if size <= max_file_mb or not path.exists():
                continue
            if folder == "models":
                rid = path.name.removesuffix(".weights.h5")
                path.unlink()
            else:
                rid = path.relative_to(dest / folder).parts[0]
                shutil.rmtree(dest / folder / rid, ignore_errors=True)
            left_out[rid] = (f"{path.name} left out ({size:.1f} MB > commit.max_file_mb {max_file_mb:g}); "
                             "make it again by training the run (`make results STUDY=...`)")
    return left_out


def commit_study(study, dest=None) -> dict[str, str]:
    """Commit a study (name, path or config) into ``dest`` (default ``results/<name>/``):
    finished runs' weights to ``models/`` and runs still training to ``partial/``
    (:func:`analognoise.runs.export_runs`), then the tidy results of every finished run that
    has its noise tables (:func:`analognoise.analysis.export_results` with ``finished_only``). The study's
    ``weights:`` (:data:`analognoise.studies.WEIGHTS`) narrows what is committed: ``front``
    keeps the weights of the runs on their model's Pareto front
    (:func:`~analognoise.analysis.front_run_ids`), ``none`` none, and either commits no partial
    state. ``commit:`` (:class:`analognoise.schema.Commit`) caps it: a weights or state file over
    ``max_file_mb`` is left out (said in the returned state), and a commit that would add more
    than ``max_total_mb`` is refused with the weight folders restored. Returns run id -> what
    was committed of it."""
    config = study if isinstance(study, dict) else load_study(study)
    policy = config.get("weights", "all")
    limits = Commit.model_validate(config.get("commit") or {})  # the schema's defaults where not set
    dest = resolve(dest or f"{RESULTS_DIR}/{config['name']}")
    cells = expand(config)
    with tempfile.TemporaryDirectory() as kept:  # the weight folders as they were, for a refused commit
        for folder in WEIGHT_FOLDERS:
            if (dest / folder).is_dir():
                shutil.copytree(dest / folder, Path(kept) / folder)
        before = sum(_megabytes(dest / f) for f in WEIGHT_FOLDERS)
        states = runs.export_runs([c.run_id for c in cells], dest, partial=policy == "all",
                                  params={c.run_id: c.params for c in cells})
        left_out = _over_limit(dest, limits.max_file_mb)
        added = sum(_megabytes(dest / f) for f in WEIGHT_FOLDERS) - before
        if added > limits.max_total_mb:
            for folder in WEIGHT_FOLDERS:
                shutil.rmtree(dest / folder, ignore_errors=True)
                if (Path(kept) / folder).is_dir():
                    shutil.copytree(Path(kept) / folder, dest / folder)
            raise ValueError(f"committing {config['name']} would add {added:.0f} MB of weights and training states, "
                             f"over commit.max_total_mb {limits.max_total_mb:g}: nothing was committed. Commit fewer "
                             "runs (`weights: front` or `none` in the study config) or raise the budget there")
    states.update({rid: f"{states.get(rid, '')}; {note}".lstrip("; ") for rid, note in left_out.items()})
    with_results = {c.run_id for c in finished_cells(config)}
    if with_results:
        export_results(config, dest, finished_only=True)
    else:
        states = {rid: f"{state}; no results yet (no finished run has its noise tables)" for rid, state in
                  states.items()}
    if policy != "all":
        keep = front_run_ids(dest) if policy == "front" and with_results else set()
        why = ", not on the front" if policy == "front" else ""
        for rid in runs.prune_models(dest, keep):
            states[rid] = (f"results only (weights: {policy}{why})" if rid in with_results else
                           f"weights held back until its noise tables exist (weights: {policy})")
    return states
