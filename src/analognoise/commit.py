"""Commit a study's runs as they stand into its results folder: weights, partial states and the tidy results of its finished runs, under the study's ``weights:`` policy."""
from __future__ import annotations

from . import runs
from .analysis import export_results, finished_cells, front_run_ids
from .paths import RESULTS_DIR, resolve
from .studies import expand, load_study


def commit_study(study, dest=None) -> dict[str, str]:
    """Commit a study (name, path or config) into ``dest`` (default ``results/<name>/``):
    finished runs' weights to ``models/`` and runs still training to ``partial/``
    (:func:`analognoise.runs.export_runs`), then the tidy results of every finished run that
    has its noise tables (:func:`analognoise.analysis.export_results` with ``finished_only``). The study's
    ``weights:`` (:data:`analognoise.studies.WEIGHTS`) narrows what is committed: ``front``
    keeps the weights of the runs on their model's Pareto front
    (:func:`~analognoise.analysis.front_run_ids`), ``none`` none, and either commits no partial
    state. Returns run id -> what was committed of it."""
    config = study if isinstance(study, dict) else load_study(study)
    policy = config.get("weights", "all")
    dest = resolve(dest or f"{RESULTS_DIR}/{config['name']}")
    cells = expand(config)
    states = runs.export_runs([c.run_id for c in cells], dest, partial=policy == "all",
                              params={c.run_id: c.params for c in cells})
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
