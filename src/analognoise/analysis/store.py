"""A study's results: reading runs' noise tables and records (or an exported folder), exporting them to results/<study>/, and the study's description."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import yaml

from ..params import architecture_facts
from ..paths import RESULTS_DIR, RUNS_DIR, resolve
from ..runs import HISTORY, atomic_path, read_record
from ..studies import Cell, expand, load_study, noise_file
from .ablation import _ordered_targets


def run_links(runs: pd.DataFrame, pages_to_root: str = "../..") -> pd.DataFrame:
    """The runs table with HTML links to each run's executed notebooks in the built book
    (``pages_to_root``: the relative path from the linking page to the project root)."""
    out = runs.copy()
    base = f"{pages_to_root}/data/executed"
    out["notebooks"] = [f'<a href="{base}/{r}/train.html">train</a> · '
                        f'<a href="{base}/{r}/inject_noise.html">noise</a>' for r in runs.run_id]
    return out


#: columns of a noise table that come from the run, not from the noise run itself
RUN_LABELS = ["run_id", "dataset", "model", "variant", "bn", "seed", "learning_rate", "batch_size", "train_noise"]


def _main_targets(cell: Cell) -> str:
    return cell.noise.get("targets", "trainable")


def _noise_files(cell: Cell, all_targets: bool) -> dict[str, Path]:
    """targets -> noise table file, for the noise runs this cell needed."""
    run_dir = resolve(RUNS_DIR) / cell.run_id
    files = {_main_targets(cell): run_dir / "noise.csv"}
    if all_targets:
        files.update({t: run_dir / noise_file(t) for t in cell.ablation_runs})
    return files


def _cell_noise(cell: Cell, computed: pd.DataFrame, all_targets: bool) -> pd.DataFrame:
    """One run's noise rows: its main targets and, with ``all_targets``, every ablation target
    (a target that hits the same tensors as the main one gets the main rows, relabelled)."""
    main = _main_targets(cell)
    wanted = [main, *[t for t in cell.ablation if t != main]] if all_targets else [main]
    return pd.concat([computed[computed.targets == (t if t in cell.ablation_runs else main)]
                      .assign(targets=t) for t in wanted], ignore_index=True)


def _history(cell: Cell) -> pd.DataFrame:
    """A finished run's per-epoch history (epoch, learning_rate, accuracy, loss, seconds,
    test_accuracy), labelled with its run id."""
    return pd.read_csv(resolve(RUNS_DIR) / cell.run_id / HISTORY).assign(run_id=cell.run_id)


def _run_row(cell: Cell) -> dict:
    """One run's labels, parameters and training outcome, from its ``params.yaml``;
    ``train_seconds`` is the wall-clock time of all its epochs from ``history.csv`` (a run
    resumed over several sessions or machines counts every one)."""
    record = read_record(resolve(RUNS_DIR) / cell.run_id)
    p = cell.params
    return dict(run_id=cell.run_id, dataset=p["dataset"], model=cell.model, variant=cell.variant,
                bn=str(p["bn"]), seed=p["seed"], learning_rate=p["learning_rate"],
                batch_size=p["batch_size"], train_noise=p.get("train_noise", 0.0), bn_layers=record["bn_layers"],
                parameters=record["parameters"], epochs=p["epochs"], lr_schedule=p["lr_schedule"],
                weight_decay=p["weight_decay"], augment=p["augment"],
                train_images=record["train_images"], test_accuracy_full=record["test_accuracy"],
                test_images_full=record["test_images"], data_source=record["data_source"],
                **architecture_facts(p["arch"], p["depth"], p.get("width", 1)),
                train_seconds=round(float(_history(cell)["seconds"].sum()), 1),
                framework=f"keras {record.get('keras')} ({record.get('backend')})")


def _read_runs(folder: Path) -> pd.DataFrame:
    """An exported folder's ``runs.csv``; one exported before noise-aware training existed
    gets ``train_noise`` 0 (none)."""
    runs = pd.read_csv(folder / "runs.csv")
    if "train_noise" not in runs:
        runs["train_noise"] = 0.0
    return runs


def _computed_noise(cells: list[Cell], all_targets: bool) -> pd.DataFrame:
    """Every noise table the cells' runs wrote (main, and ablation with ``all_targets``);
    raises FileNotFoundError naming what is missing."""
    files = [(c, f) for c in cells for f in _noise_files(c, all_targets).values()]
    missing = [str(f.relative_to(resolve(RUNS_DIR))) for _, f in files if not f.exists()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} noise table(s) are missing: {', '.join(missing)}. "
                                "Run the study's workflow (snakemake --cores 2 --config study=<name>).")
    return pd.concat([pd.read_csv(f).assign(run_id=c.run_id) for c, f in files], ignore_index=True)


def load_results(study, all_targets: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, noise) of a study (name, path, exported results folder, or loaded config).

    runs: one row per run with its parameters and training outcome. noise: every trial of the
    main noise grid (with ``all_targets``, also of the ablation's noise targets), labelled with
    the run's dataset, model, variant, seed. Reads ``data/runs/`` or, for a results folder
    (:func:`export_results`), its ``runs.csv`` and ``noise.csv``. Raises FileNotFoundError
    naming the noise tables that are not there yet.
    """
    config = study if isinstance(study, dict) else load_study(study)
    cells = expand(config)
    if config.get("results_dir"):
        folder = resolve(config["results_dir"])
        runs = _read_runs(folder)
        cells = [c for c in cells if c.run_id in set(runs.run_id)]  # a study still under way: its finished runs
        runs = runs.set_index("run_id").loc[[c.run_id for c in cells]].reset_index()
        computed = pd.read_csv(folder / "noise.csv")
    else:
        runs = pd.DataFrame([_run_row(c) for c in cells])
        computed = _computed_noise(cells, all_targets)
    noise = pd.concat([_cell_noise(c, computed[computed.run_id == c.run_id], all_targets) for c in cells],
                      ignore_index=True).drop(columns=["seed"])
    return runs, noise.merge(runs[RUN_LABELS], on="run_id")


def finished_cells(config: dict) -> list[Cell]:
    """The cells of a study whose run is trained and has every noise table (main and ablation)."""
    return [c for c in expand(config)
            if (resolve(RUNS_DIR) / c.run_id / "params.yaml").is_file()
            and all(path.is_file() for path in _noise_files(c, all_targets=True).values())]


def _carried_runs(dest: Path, order: list[str], finished_here: set[str]) -> list[str]:
    """Runs of the study (``order``: its run ids in grid order) that are not finished on this
    machine but whose results ``dest`` already holds (committed as results only, under
    ``weights: front`` or ``none``, or trained on another machine): their rows are kept."""
    if not (dest / "runs.csv").is_file():
        return []
    committed = set(_read_runs(dest).run_id)
    return [rid for rid in order if rid in committed and rid not in finished_here]


def _with_carried(table: pd.DataFrame, committed: Path, carried: list[str], order: list[str]) -> pd.DataFrame:
    """``table`` (rows of the runs finished here) with the rows of the ``carried`` runs from the
    committed file of the same name, in the study's run order (stable within a run)."""
    if carried and committed.is_file():
        old = pd.read_csv(committed)
        table = pd.concat([table, old[old.run_id.isin(carried)]], ignore_index=True)
    rank = table.run_id.map({rid: i for i, rid in enumerate(order)})
    return table.iloc[rank.argsort(kind="stable")].reset_index(drop=True)


def export_results(study, dest=None, finished_only: bool = False) -> Path:
    """Write a finished study's results into ``dest`` (default ``results/<name>/``), replacing
    it whole: ``study.yaml`` (the config, verbatim), ``runs.csv`` (one row per run),
    ``histories.csv`` (per-epoch training history), ``noise.csv`` (every noise trial of every
    noise run, ablation included), ``provenance.yaml`` (how and where they were made) and, where
    every run has its theory measurements, ``theory-{checkpoints,minibatch,layers}.csv``.
    :func:`load_results` reads the folder back to the same tables without the models.
    ``finished_only``: a study still under way exports the runs that have every noise table
    (:func:`finished_cells`) and keeps the committed rows of runs finished elsewhere
    (``runs_carried``: results-only runs of a fresh clone, runs trained on another machine);
    ``provenance.yaml`` lists the others as ``runs_missing``.
    """
    config = study if isinstance(study, dict) else load_study(study)
    if config.get("results_dir"):
        raise ValueError(f"{config['results_dir']} is already an exported results folder")
    cells = finished_cells(config) if finished_only else expand(config)
    if not cells:
        raise ValueError(f"study {config['name']}: no run has finished training and its noise tables yet")
    dest = resolve(dest or f"{RESULTS_DIR}/{config['name']}")
    order = [c.run_id for c in expand(config)]
    carried = _carried_runs(dest, order, {c.run_id for c in cells}) if finished_only else []
    missing = sorted(set(order) - {c.run_id for c in cells} - set(carried))
    noise = _computed_noise(cells, all_targets=True)  # checks everything is there first
    tables = {"runs": pd.DataFrame([_run_row(c) for c in cells]),
              "histories": pd.concat([_history(c) for c in cells], ignore_index=True), "noise": noise,
              **{f"theory-{name}": table for name, table in _theory_tables(cells, required=False).items()}}
    for name in tables:
        tables[name] = _with_carried(tables[name], dest / f"{name}.csv", carried, order)
    with atomic_path(dest, directory=True) as folder:
        shutil.copyfile(config["path"], folder / "study.yaml")
        runs = tables["runs"]
        for name, table in tables.items():
            table.to_csv(folder / f"{name}.csv", index=False)
        if (dest / "models").is_dir():
            shutil.copytree(dest / "models", folder / "models")
        if (dest / "partial").is_dir():  # runs still training elsewhere stay committed until they finish
            finished = {c.run_id for c in cells}
            for partial in (dest / "partial").iterdir():
                if partial.name not in finished:
                    shutil.copytree(partial, folder / "partial" / partial.name)
        provenance = dict(exported=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                          source_commit=_git_commit(), machine=f"{platform.machine()}, {os.cpu_count()} CPU cores",
                          platform=platform.platform(), python=platform.python_version(),
                          frameworks=sorted(runs.framework.unique().tolist()),
                          train_seconds_total=float(runs.train_seconds.sum()),
                          regenerate=f"make {'commit-runs' if finished_only else 'results'} STUDY={config['name']}",
                          runs_missing=missing, runs_carried=carried)
        (folder / "provenance.yaml").write_text(yaml.safe_dump(provenance, sort_keys=False))
    return dest


def load_histories(study) -> pd.DataFrame:
    """Per-epoch training history of every run of a study (run_id, epoch, learning_rate,
    accuracy, loss, seconds), labelled like :func:`load_results`'s tables."""
    config = study if isinstance(study, dict) else load_study(study)
    if config.get("results_dir"):
        folder = resolve(config["results_dir"])
        runs, histories = _read_runs(folder), pd.read_csv(folder / "histories.csv")
    else:
        cells = expand(config)
        runs = pd.DataFrame([_run_row(c) for c in cells])
        histories = pd.concat([_history(c) for c in cells], ignore_index=True)
    return histories.merge(runs[RUN_LABELS], on="run_id")


def _draws(noise: pd.DataFrame) -> str:
    """"10 draws each", or "10 draws each (5 for kernels, all)" where some targets' noise runs
    drew fewer times."""
    per_target = noise.groupby(["targets", "run_id", "eta"]).size().groupby("targets").min()
    most = int(per_target.max())
    fewer = per_target[per_target < most]
    if fewer.empty:
        return f"{most} draws each"
    return (f"{most} draws each ({int(fewer.iloc[0])} for "
            f"{', '.join(f'`{t}`' for t in _ordered_targets(fewer.index))})")


def describe_study(config: dict, runs: pd.DataFrame, noise: pd.DataFrame) -> str:
    """Markdown: the study, its data, runs and noise settings and, for exported results, how
    and where they were made (``provenance.yaml``)."""
    config_file = "/".join(config["path"].split("/")[-2:])
    targets = ", ".join(f"`{t}`" for t in _ordered_targets(noise.targets.unique()) or noise.targets.unique())
    text = (f"**Study `{config['name']}`** ({config_file}): {config['description']}\n\n"
            f"**Data**: {'; '.join(sorted(runs.data_source.unique()))}. **Runs**: {len(runs)}; noise: etas "
            f"{', '.join(f'{100 * e:g}%' for e in sorted(noise.eta.unique()))}, "
            f"{_draws(noise)}, targets {targets}, "
            f"scale `{noise['scale'].iloc[0]}`, {int(noise.test_images.iloc[0])} test images.")
    if config.get("results_dir"):
        made = yaml.safe_load((resolve(config["results_dir"]) / "provenance.yaml").read_text())
        folder = Path(config["results_dir"])
        shown = folder.relative_to(resolve(".")) if folder.is_relative_to(resolve(".")) else folder
        text += (f"\n\n**Committed results** (`{shown}/`), "
                 f"exported {made['exported']} from commit `{made['source_commit']}` on {made['machine']} "
                 f"({made['platform']}; {', '.join(made['frameworks'])}), "
                 f"{made['train_seconds_total'] / 60:.0f} min of training in all. "
                 f"Nothing is recomputed to show them; `{made['regenerate']}` regenerates them.")
        if made.get("runs_missing"):
            text += (f"\n\n**A study under way**: {len(runs)} of {len(runs) + len(made['runs_missing'])} runs "
                     f"have finished; the others ({', '.join(f'`{r}`' for r in made['runs_missing'])}) are still "
                     "training, and every table and verdict here covers the finished runs only.")
    return text


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=resolve("."), check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


#: the theory measurements of a run (data/runs/<id>/theory/<name>.csv), each a table
THEORY_TABLES = ("checkpoints", "minibatch", "layers")


def _theory_tables(cells: list[Cell], required: bool = True) -> dict[str, pd.DataFrame]:
    """The cells' theory measurements, one table per name of :data:`THEORY_TABLES` (each with
    its ``run_id`` column); ``{}`` where some run has none and not ``required`` (else
    FileNotFoundError naming the runs without)."""
    missing = [c.run_id for c in cells if not (resolve(RUNS_DIR) / c.run_id / "theory").is_dir()]
    if missing and not required:
        return {}
    if missing:
        raise FileNotFoundError(f"no theory measurements for {', '.join(missing)}; run the study's "
                                "workflow (snakemake --cores 2 --config study=<name>)")
    return {name: pd.concat([pd.read_csv(resolve(RUNS_DIR) / c.run_id / "theory" / f"{name}.csv") for c in cells],
                            ignore_index=True)
            for name in THEORY_TABLES}


def load_theory(study) -> dict[str, pd.DataFrame]:
    """The theory measurements of every run of a study (``data/runs/<id>/theory/*.csv``, or an
    exported folder's ``theory-*.csv``), labelled with run_id, dataset, model, variant, learning
    rate and batch size: keys ``checkpoints``, ``minibatch``, ``layers``."""
    config = study if isinstance(study, dict) else load_study(study)
    cells = expand(config)
    if config.get("results_dir"):
        folder = resolve(config["results_dir"])
        if not (folder / "theory-checkpoints.csv").is_file():
            raise FileNotFoundError(f"{folder} has no theory measurements (theory-*.csv): its runs were "
                                    "exported before they had them; measure them and export again")
        finished = set(_read_runs(folder).run_id)
        cells = [c for c in cells if c.run_id in finished]
        tables = {name: pd.read_csv(folder / f"theory-{name}.csv") for name in THEORY_TABLES}
    else:
        tables = _theory_tables(cells)
    labels = pd.DataFrame([dict(run_id=c.run_id, dataset=c.params["dataset"], model=c.model, variant=c.variant,
                                learning_rate=c.params["learning_rate"], batch_size_trained=c.params["batch_size"])
                           for c in cells])
    return {name: table.merge(labels, on="run_id") for name, table in tables.items()}
