"""From a study's runs to the paper's tables, figures, audit and claims, ours beside theirs.

Conventions: accuracies are fractions internally and percent on display; ``variant`` is
"BN", "no BN" or "partial BN"; the paper's "No BN" column is compared with our "no BN" and
"partial BN" runs (the paper used partial BN there where no-BN did not train).
"""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from . import metrics
from .significance import (INCONCLUSIVE, NOT_SUPPORTED, PARTLY, SUPPORTED, UNTESTABLE, direction, holm,
                           slope, smallest_p, spearman, verdict, welch)
from .params import architecture_facts
from .paths import RESULTS_DIR, RUNS_DIR, resolve
from .runs import atomic_path, export_model, read_record
from .studies import Cell, expand, load_study, noise_file

#: the paper's model names -> ours. "Resnet_36" is not a 6n+2 depth; the CIFAR ResNet series
#: it sits in (20, 44, 56, step 12) and the Keras example it follows put ResNet-32 there.
PAPER_MODELS = {"Resnet_20": "ResNet-20", "Resnet_36": "ResNet-32", "Resnet_44": "ResNet-44",
                "Resnet_56": "ResNet-56", "VGG_16": "VGG16"}
MODEL_ORDER = ["ResNet-20", "ResNet-32", "ResNet-44", "ResNet-56", "VGG16"]
DATASET_LABELS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
PAPER_TABLE = {"cifar10": "II", "cifar100": "III"}
#: 200-epoch CIFAR-10 accuracies of the Keras ``cifar10_resnet`` example (ResNet v1), from the
#: table in its docstring; the paper's with-BN baselines are compared with them in the audit.
KERAS_EXAMPLE_V1 = {"ResNet-20": 0.9216, "ResNet-32": 0.9246, "ResNet-44": 0.9250, "ResNet-56": 0.9271}


# ---------------------------------------------------------------- the paper's numbers
def _paper_csv(name: str) -> pd.DataFrame:
    with resources.files("analognoise.paper").joinpath(name).open() as f:
        table = pd.read_csv(f)
    if "paper_model" in table:
        table.insert(table.columns.get_loc("paper_model") + 1, "model", table["paper_model"].map(PAPER_MODELS))
    return table


def paper_accuracy() -> pd.DataFrame:
    """Tables II and III: table, dataset, paper_model, model, variant, eta, accuracy (fraction)."""
    table = _paper_csv("paper_accuracy.csv")
    table["accuracy"] = table.pop("accuracy_pct") / 100
    return table


def paper_table4() -> pd.DataFrame:
    """Table IV as published: dataset, paper_model, model, variant, a_avr (fraction)."""
    table = _paper_csv("paper_table4.csv")
    table["a_avr"] = table.pop("a_avr_pct") / 100
    return table


def paper_quotes() -> pd.DataFrame:
    """Numbers quoted in the paper's section IV text, with what each refers to."""
    return _paper_csv("paper_quotes.csv")


def _with_normalized(table: pd.DataFrame, keys) -> pd.DataFrame:
    clean = table[table.eta == 0].set_index(keys)["accuracy"].rename("clean_accuracy")
    table = table.join(clean, on=keys)
    table["normalized_accuracy"] = table["accuracy"] / table["clean_accuracy"]
    return table


def recompute_paper_table4() -> pd.DataFrame:
    """Eq. 13-14 applied to Tables II/III, beside the published Table IV (fractions)."""
    keys = ["dataset", "paper_model", "variant"]
    table = _with_normalized(paper_accuracy(), keys)
    recomputed = (table[table.eta > 0].groupby(keys)["normalized_accuracy"].mean()
                  .rename("recomputed").reset_index())
    merged = paper_table4().merge(recomputed, on=keys)
    merged = merged.rename(columns={"a_avr": "published"})
    merged["difference"] = merged["published"] - merged["recomputed"]
    return merged


def check_paper_quotes(tolerance_pct: float = 0.015) -> pd.DataFrame:
    """Every number quoted in section IV against the value the paper's tables give.

    A difference within ``tolerance_pct`` percentage points is rounding.
    """
    keys = ["dataset", "paper_model", "variant"]
    table = _with_normalized(paper_accuracy(), keys)
    table4 = paper_table4().set_index(keys)["a_avr"]
    rows = []
    for q in paper_quotes().itertuples():
        key = (q.dataset, q.paper_model, q.variant)
        if q.quantity == "degradation_eq14":
            value = 100 * (1 - table4[key])
        else:
            cell = table[(table.dataset == q.dataset) & (table.paper_model == q.paper_model)
                         & (table.variant == q.variant) & np.isclose(table.eta, q.eta)]
            value = 100 * float(cell["accuracy" if q.quantity == "accuracy" else "normalized_accuracy"].iloc[0])
        rows.append(dict(section=q.section, quote=q.quote, quantity=q.quantity,
                         quoted_pct=q.value_pct, from_tables_pct=round(value, 2),
                         consistent=abs(value - q.value_pct) <= tolerance_pct))
    return pd.DataFrame(rows)


def paper_table_oddities() -> list[str]:
    """Patterns in Tables II/III that a reader should know: identical cells, floors at chance."""
    notes = []
    acc = paper_accuracy()
    for (dataset, model, variant), g in acc.groupby(["dataset", "paper_model", "variant"]):
        values = g.sort_values("eta")["accuracy"].round(4).tolist()
        chance = 0.1 if dataset == "cifar10" else 0.01
        repeats = [f"{100 * a:.2f}% at eta {100 * e1:g}% and {100 * e2:g}%"
                   for (e1, a), (e2, b) in zip(zip(g.eta, values), list(zip(g.eta, values))[1:])
                   if a == b and a > chance]
        if repeats:
            notes.append(f"Table {PAPER_TABLE[dataset]}, {model} {variant}: identical accuracy "
                         + "; ".join(repeats) + " (a copied cell?)")
        at_chance = [e for e, a in zip(g.eta, values) if e > 0 and abs(a - chance) < 1e-9]
        if len(at_chance) >= 4:
            notes.append(f"Table {PAPER_TABLE[dataset]}, {model} {variant}: exactly chance "
                         f"({100 * chance:g}%) at eta {', '.join(f'{100 * e:g}%' for e in at_chance)}: "
                         f"every prediction is one class, which non-finite outputs (argmax of NaN = class 0) "
                         f"or a collapsed network produce")
    return notes


def compare_with_keras_example() -> pd.DataFrame:
    """The paper's clean CIFAR-10 accuracies with BN beside the Keras example's (fractions)."""
    paper = paper_accuracy()
    paper = paper[(paper.dataset == "cifar10") & (paper.variant == "BN") & (paper.eta == 0)]
    table = paper[paper.model.isin(list(KERAS_EXAMPLE_V1))][["paper_model", "model", "accuracy"]]
    table = table.rename(columns={"accuracy": "paper"}).assign(keras_example=lambda t: t.model.map(KERAS_EXAMPLE_V1))
    table["identical"] = np.isclose(table.paper, table.keras_example)
    return table.reset_index(drop=True)


def run_links(runs: pd.DataFrame, pages_to_root: str = "../..") -> pd.DataFrame:
    """The runs table with HTML links to each run's executed notebooks in the built book
    (``pages_to_root``: the relative path from the linking page to the project root)."""
    out = runs.copy()
    base = f"{pages_to_root}/data/executed"
    out["notebooks"] = [f'<a href="{base}/{r}/train.html">train</a> · '
                        f'<a href="{base}/{r}/inject_noise.html">noise</a>' for r in runs.run_id]
    return out


# ---------------------------------------------------------------- our runs
#: columns of a noise table that come from the run, not from the noise run itself
RUN_LABELS = ["run_id", "dataset", "model", "variant", "bn", "seed", "learning_rate", "batch_size"]


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


def _run_row(cell: Cell) -> dict:
    """One run's labels, parameters and training outcome, from its ``params.yaml``."""
    record = read_record(resolve(RUNS_DIR) / cell.run_id)
    p = cell.params
    return dict(run_id=cell.run_id, dataset=p["dataset"], model=cell.model, variant=cell.variant,
                bn=str(p["bn"]), seed=p["seed"], learning_rate=p["learning_rate"],
                batch_size=p["batch_size"], bn_layers=record["bn_layers"],
                parameters=record["parameters"], epochs=p["epochs"], lr_schedule=p["lr_schedule"],
                weight_decay=p["weight_decay"], augment=p["augment"],
                train_images=record["train_images"], test_accuracy_full=record["test_accuracy"],
                test_images_full=record["test_images"], data_source=record["data_source"],
                **architecture_facts(p["arch"], p["depth"], p.get("width", 1)),
                train_seconds=record.get("train_seconds_this_session"),
                framework=f"keras {record.get('keras')} ({record.get('backend')})")


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
        runs = pd.read_csv(folder / "runs.csv").set_index("run_id").loc[[c.run_id for c in cells]].reset_index()
        computed = pd.read_csv(folder / "noise.csv")
    else:
        runs = pd.DataFrame([_run_row(c) for c in cells])
        computed = _computed_noise(cells, all_targets)
    noise = pd.concat([_cell_noise(c, computed[computed.run_id == c.run_id], all_targets) for c in cells],
                      ignore_index=True).drop(columns=["seed"])
    return runs, noise.merge(runs[RUN_LABELS], on="run_id")


def export_results(study, dest=None) -> Path:
    """Write a finished study's results into ``dest`` (default ``results/<name>/``), replacing
    it whole: ``study.yaml`` (the config, verbatim), ``runs.csv`` (one row per run),
    ``histories.csv`` (per-epoch training history), ``noise.csv`` (every noise trial of every
    noise run, ablation included), ``provenance.yaml`` (how and where they were made).
    :func:`load_results` reads the folder back to the same tables without the models.
    """
    config = study if isinstance(study, dict) else load_study(study)
    if config.get("results_dir"):
        raise ValueError(f"{config['results_dir']} is already an exported results folder")
    cells = expand(config)
    noise = _computed_noise(cells, all_targets=True)  # checks everything is there first
    dest = resolve(dest or f"{RESULTS_DIR}/{config['name']}")
    with atomic_path(dest, directory=True) as folder:
        shutil.copyfile(config["path"], folder / "study.yaml")
        runs = pd.DataFrame([_run_row(c) for c in cells])
        runs.to_csv(folder / "runs.csv", index=False)
        pd.concat([pd.read_csv(resolve(RUNS_DIR) / c.run_id / "history.csv").assign(run_id=c.run_id)
                   for c in cells], ignore_index=True).to_csv(folder / "histories.csv", index=False)
        noise.to_csv(folder / "noise.csv", index=False)
        if config.get("export_models"):
            for cell in cells:
                export_model(resolve(RUNS_DIR) / cell.run_id, folder / "models")
        elif (dest / "models").is_dir():
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
                          regenerate=f"make results STUDY={config['name']}")
        (folder / "provenance.yaml").write_text(yaml.safe_dump(provenance, sort_keys=False))
    return dest


def load_histories(study) -> pd.DataFrame:
    """Per-epoch training history of every run of a study (run_id, epoch, learning_rate,
    accuracy, loss, seconds), labelled like :func:`load_results`'s tables."""
    config = study if isinstance(study, dict) else load_study(study)
    if config.get("results_dir"):
        folder = resolve(config["results_dir"])
        runs, histories = pd.read_csv(folder / "runs.csv"), pd.read_csv(folder / "histories.csv")
    else:
        cells = expand(config)
        runs = pd.DataFrame([_run_row(c) for c in cells])
        histories = pd.concat([pd.read_csv(resolve(RUNS_DIR) / c.run_id / "history.csv").assign(run_id=c.run_id)
                               for c in cells], ignore_index=True)
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
    return text


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=resolve("."), check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


#: the columns that identify what a result is about (training seeds are pooled)
SETTINGS = ["dataset", "model", "variant", "learning_rate", "batch_size"]


def _settings(frame: pd.DataFrame) -> list[str]:
    return [c for c in SETTINGS if c in frame]


def summarize(noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per setting (dataset, model, variant, learning rate, batch size) and eta: accuracy and
    normalised accuracy with CIs (:func:`analognoise.metrics.summarize_by_eta`)."""
    keys = _settings(noise)
    parts = [metrics.summarize_by_eta(g, confidence).assign(**dict(zip(keys, key)))
             for key, g in noise.groupby(keys)]
    table = pd.concat(parts, ignore_index=True)
    return table[[*keys, *[c for c in table if c not in keys]]]


def eq14(noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Eq. 14 per setting (dataset, model, variant, ...) with a CI (over repeats, or over seeds)."""
    rows = []
    keys = _settings(noise)
    for key, g in noise.groupby(keys):
        if g["seed"].nunique() > 1:
            per_seed = [metrics.average_normalized_accuracy(s) for _, s in g.groupby("seed")]
            mean, lo, hi = metrics.mean_ci(per_seed, confidence)
        else:
            mean, lo, hi = metrics.average_normalized_accuracy_ci(g, confidence)
        rows.append(dict(zip(keys, key), a_avr=mean, a_avr_lo=lo, a_avr_hi=hi))
    return pd.DataFrame(rows)


def _ordered_models(models) -> list[str]:
    """The paper's models in its order, then any others (e.g. ResNet-8) by name."""
    models = set(models)
    return [m for m in MODEL_ORDER if m in models] + sorted(models - set(MODEL_ORDER))


def _pct(mean, lo=None, hi=None) -> str:
    if mean is None or pd.isna(mean):
        return ""
    if lo is None or hi - lo < 5e-5:
        return f"{100 * mean:.2f}"
    return f"{100 * mean:.2f} ± {100 * (hi - lo) / 2:.2f}"


def _variants(ours: pd.DataFrame) -> list[str]:
    return [v for v in ("BN", "partial BN", "no BN") if v in set(ours.variant) or v != "partial BN"]


def accuracy_table(summary: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Table II (cifar10) / III (cifar100): accuracy (%) per model and variant (rows) and eta
    (columns), ours (mean ± 95% CI half-width) beside the paper's."""
    paper = paper_accuracy()
    paper = paper[paper.dataset == dataset]
    ours = summary[summary.dataset == dataset]
    rows = []
    for model in _ordered_models(set(ours.model) | set(paper.model)):
        for variant in _variants(ours):
            row = {"model": model, "variant": variant}
            for eta in sorted(set(ours.eta) | set(paper.eta)):
                label = f"{100 * eta:g}%"
                o = ours[(ours.model == model) & (ours.variant == variant) & np.isclose(ours.eta, eta)]
                p = paper[(paper.model == model) & (paper.variant == variant) & np.isclose(paper.eta, eta)]
                row[(label, "ours")] = _pct(o.accuracy.iloc[0], o.accuracy_lo.iloc[0], o.accuracy_hi.iloc[0]) if len(o) else ""
                row[(label, "paper")] = _pct(p.accuracy.iloc[0]) if len(p) else ""
            rows.append(row)
    return _tidy_table(rows, ["eta", "source"])


def _tidy_table(rows: list[dict], column_names: list[str]) -> pd.DataFrame:
    """Rows keyed by (model, variant), without the rows that have no number at all."""
    table = pd.DataFrame(rows).set_index(["model", "variant"])
    table.columns = pd.MultiIndex.from_tuples(table.columns, names=column_names)
    table = table[(table != "").any(axis=1)]
    return table.replace("", "–")


def table4(noise: pd.DataFrame) -> pd.DataFrame:
    """Table IV: eq. 14 (%) per model and variant (rows) and dataset (columns), ours (± 95% CI
    half-width) beside the paper's."""
    ours = eq14(noise)
    paper = paper_table4()
    rows = []
    for model in _ordered_models(set(ours.model) | set(paper.model)):
        for variant in _variants(ours):
            row = {"model": model, "variant": variant}
            for dataset, label in DATASET_LABELS.items():
                o = ours[(ours.model == model) & (ours.dataset == dataset) & (ours.variant == variant)]
                p = paper[(paper.model == model) & (paper.dataset == dataset) & (paper.variant == variant)]
                row[(label, "ours")] = _pct(o.a_avr.iloc[0], o.a_avr_lo.iloc[0], o.a_avr_hi.iloc[0]) if len(o) else ""
                row[(label, "paper")] = _pct(p.a_avr.iloc[0]) if len(p) else ""
            rows.append(row)
    return _tidy_table(rows, ["dataset", "source"])


def bn_effect(noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """BN vs no-BN (or partial BN) per (dataset, model, eta > 0): the difference of mean
    normalised accuracy (BN minus other, percentage points) with a Welch CI and p-value.

    Both models are scored on the same test images; their noise draws are independent.
    With several training seeds the samples are per-seed means, so the CI covers training too.
    """
    rows = []
    noisy = noise[noise.eta > 0]
    keys = [*[c for c in _settings(noise) if c != "variant"], "eta"]
    for key, g in noisy.groupby(keys):
        bn = g[g.variant == "BN"]
        for other_variant in ("no BN", "partial BN"):
            other = g[g.variant == other_variant]
            if bn.empty or other.empty:
                continue
            diff, lo, hi, p_value = welch(metrics.samples(bn, "normalized_accuracy"),
                                           metrics.samples(other, "normalized_accuracy"), confidence)
            rows.append(dict(zip(keys, key), versus=other_variant,
                             bn_minus_other_pp=100 * diff, ci_lo_pp=100 * lo, ci_hi_pp=100 * hi,
                             p_value=p_value))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- which weights does the noise hit?
#: the ablation's noise targets: each of the first four adds tensors to the one before it
ABLATION_TARGETS = {
    "kernels": "kernels",
    "kernels+biases": "+ biases",
    "trainable": "+ BN γ, β",
    "all": "+ BN moving stats",
    "folded": "BN folded",
}
#: what each cumulative step adds, for the shares of the degradation
ABLATION_STEPS = [("kernels", None, "kernels"), ("biases", "kernels", "kernels+biases"),
                  ("BN gamma, beta", "kernels+biases", "trainable"),
                  ("BN moving statistics", "trainable", "all")]


def _ordered_targets(targets) -> list[str]:
    return [t for t in ABLATION_TARGETS if t in set(targets)]


def ablation_eq14(noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Eq. 14 per model, variant and noise target (``noise`` from
    ``load_results(..., all_targets=True)``): a_avr with its CI over repeats, and the mean
    non-finite fraction at the largest eta."""
    rows = []
    keys = [*_settings(noise), "targets"]  # every setting that defines a run: never averaged over
    for key, g in noise.groupby(keys):
        mean, lo, hi = metrics.average_normalized_accuracy_ci(g, confidence)
        top = g[g.eta == g.eta.max()]
        rows.append(dict(zip(keys, key), a_avr=mean, a_avr_lo=lo,
                         a_avr_hi=hi, nonfinite_at_max_eta=float(top.nonfinite_fraction.mean())))
    table = pd.DataFrame(rows)
    order = {m: i for i, m in enumerate(_ordered_models(table.model))}
    return table.sort_values(["model", "variant", "targets"], key=lambda c: c.map(
        order if c.name == "model" else {v: i for i, v in enumerate([*ABLATION_TARGETS, "BN", "partial BN", "no BN"])}),
        ignore_index=True)


def ablation_table(noise: pd.DataFrame) -> pd.DataFrame:
    """Eq. 14 (%, mean ± 95% CI half-width) per model and variant (rows) and noise target
    (columns, in :data:`ABLATION_TARGETS` order)."""
    table = ablation_eq14(noise)
    table["cell"] = [_pct(r.a_avr, r.a_avr_lo, r.a_avr_hi) for r in table.itertuples()]
    wide = table.pivot(index=["model", "variant"], columns="targets", values="cell")
    wide = wide[_ordered_targets(wide.columns)].rename(columns=ABLATION_TARGETS)
    return wide.loc[[k for k in dict.fromkeys(zip(table.model, table.variant))]]


def degradation_sources(noise: pd.DataFrame) -> pd.DataFrame:
    """For every model with BN layers: the loss of eq. 14, 1 - A_avr (%), under each noise target,
    and the share (%) of the loss with every tensor noisy ("all") that each added group of
    tensors accounts for (kernels; biases; BN gamma, beta; BN moving statistics). Shares are
    differences of measured losses: noise effects need not add up, so one can fall below 0."""
    table = ablation_eq14(noise)
    rows = []
    keys = _settings(table)
    for key, g in table[table.variant != "no BN"].groupby(keys, sort=False):
        loss = {t: 100 * (1 - a) for t, a in zip(g.targets, g.a_avr)}
        row = dict(zip(keys, key), **{f"loss {ABLATION_TARGETS[t]}": v for t, v in loss.items()})
        if "all" in loss:
            for name, before, after in ABLATION_STEPS:
                if after in loss and (before is None or before in loss):
                    row[f"share: {name}"] = 100 * (loss[after] - (loss[before] if before else 0)) / loss["all"]
        rows.append(row)
    return pd.DataFrame(rows)


def collapsed_trials(noise: pd.DataFrame) -> pd.DataFrame:
    """Trials whose every output was non-finite (the network "collapsed": under noise on BN's
    moving variance it goes negative and BN takes its square root), per setting and noise
    target: how many, from which eta on, and the accuracy two scorings give them. Ours counts
    a non-finite output as wrong (0%); NumPy's argmax of an all-NaN row is class 0, so a study
    that scores that way gets exactly the share of class 0, chance on a balanced test set,
    which is what the paper's VGG16 with BN shows at every eta >= 1%. ``as_argmax_of_nan`` is
    that score: accuracy + non-finite share x chance (exact for collapsed trials)."""
    keys = [*_settings(noise), "targets"]
    rows = []
    for key, g in noise[noise.eta > 0].groupby(keys):
        collapsed = g[g.nonfinite_fraction >= 1.0]
        if collapsed.empty:
            continue
        chance = CHANCE.get(g.dataset.iloc[0], 0.0)
        rows.append(dict(zip(keys, key), collapsed=len(collapsed), trials=len(g), from_eta=float(collapsed.eta.min()),
                         accuracy_as_scored=float(collapsed.accuracy.mean()),
                         as_argmax_of_nan=float((collapsed.accuracy + collapsed.nonfinite_fraction * chance).mean())))
    return pd.DataFrame(rows, columns=[*keys, "collapsed", "trials", "from_eta", "accuracy_as_scored", "as_argmax_of_nan"])


def _welch_pp(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Difference of means a - b in percentage points with a Welch CI."""
    diff, lo, hi, _ = welch(a, b, confidence)
    return 100 * diff, 100 * lo, 100 * hi


def ablation_findings(noise: pd.DataFrame) -> pd.DataFrame:
    """The questions the ablation answers, each with a finding and the evidence in numbers."""
    table = ablation_eq14(noise)
    a = table.set_index(["model", "variant", "targets"])
    sources = degradation_sources(noise)
    rows = []

    def finding(question, verdict, evidence):
        rows.append(dict(question=question, finding=verdict, evidence=evidence))

    gaps = []
    for model, g in noise[noise.targets == "kernels"].groupby("model", sort=False):
        bn, other = g[g.variant == "BN"], g[g.variant != "BN"]
        if not bn.empty and not other.empty:
            gaps.append((model, other.variant.iloc[0], *_welch_pp(metrics.eq14_per_repeat(bn), metrics.eq14_per_repeat(other))))
    below = sum(hi < 0 for *_, hi in gaps)
    finding("With noise on the conv/dense kernels only, is the BN model still less robust than the "
            "model without (or with partial) BN?",
            f"yes for {below} of {len(gaps)} models" if gaps else UNTESTABLE,
            "; ".join(f"{m} BN − {v}: {d:+.1f} pp [{lo:+.1f}, {hi:+.1f}]" for m, v, d, lo, hi in gaps))
    if not sources.empty and "share: BN moving statistics" in sources:
        shares = sources["share: BN moving statistics"]
        finding("How much of a BN model's degradation (every tensor noisy) comes from noise on the BN "
                "moving statistics?",
                f"median {shares.median():.0f}% (range {shares.min():.0f}-{shares.max():.0f}%)",
                "; ".join(f"{m} ({v}): {x:.0f}%" for m, v, x in zip(sources.model, sources.variant, shares)))
    if not sources.empty and "share: kernels" in sources:
        k = sources["share: kernels"]
        finding("And from noise on the trained kernels?",
                f"median {k.median():.0f}% (range {k.min():.0f}-{k.max():.0f}%)",
                "share of the all-tensors loss already reached with kernels-only noise")
    nonfinite = table.groupby("targets").nonfinite_at_max_eta.max()
    finding("How often do the outputs become non-finite (NaN/inf) at the largest eta?",
            ", ".join(f"{ABLATION_TARGETS.get(t, t)}: up to {100 * v:.1f}%" for t, v in
                      nonfinite.reindex(_ordered_targets(nonfinite.index)).items()),
            "largest mean fraction of test images with a non-finite output, over models")
    pairs = [(m, v) for m, v in dict.fromkeys(zip(table.model, table.variant))
             if v != "no BN" and (m, v, "folded") in a.index and (m, v, "trainable") in a.index]
    if pairs:
        diffs = [(m, v, *_welch_pp(metrics.eq14_per_repeat(noise[(noise.model == m) & (noise.variant == v) & (noise.targets == "folded")]),
                                   metrics.eq14_per_repeat(noise[(noise.model == m) & (noise.variant == v) & (noise.targets == "trainable")])))
                 for m, v in pairs]
        worse = sum(hi < 0 for *_, hi in diffs)
        finding("Deployed with BN folded into the conv kernels and biases, is a BN model less robust "
                "than with noise on its separate trainable tensors?",
                f"yes for {worse} of {len(diffs)} models",
                "; ".join(f"{m} ({v}) folded − trainable: {d:+.1f} pp [{lo:+.1f}, {hi:+.1f}]" for m, v, d, lo, hi in diffs))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- the paper's claims
#: chance accuracy of each dataset
CHANCE = {"cifar10": 0.1, "cifar100": 0.01}
#: a model "trained" when its clean accuracy is at least this multiple of chance: below it,
#: eq. 13's floor (chance / clean accuracy, reached by a model that guesses under noise) is
#: above 1/3, and a near-constant classifier looks robust. One rule for every table and claim.
TRAINED_MULTIPLE_OF_CHANCE = 3


def is_trained(clean_accuracy, dataset: str):
    """Whether a model with this clean accuracy on ``dataset`` counts as trained (see
    :data:`TRAINED_MULTIPLE_OF_CHANCE`); works on scalars and arrays."""
    return clean_accuracy >= TRAINED_MULTIPLE_OF_CHANCE * CHANCE.get(dataset, 0.0) - 1e-9


def untrained_runs(noise: pd.DataFrame) -> pd.DataFrame:
    """The runs of a noise table that did not train: run_id, dataset, model, variant, clean."""
    runs = noise.groupby("run_id")[["dataset", "model", "variant", "clean_accuracy"]].first().reset_index()
    return runs[[not is_trained(c, d) for c, d in zip(runs.clean_accuracy, runs.dataset)]]


def eq14_chance_corrected(noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Eq. 14 with chance taken out, per setting: the mean over non-zero etas of
    (a - c) / (a0 - c), c the dataset's chance accuracy: 1 keeps everything above chance, 0
    falls to chance. Unlike eq. 13 it does not favour the weaker model (whose floor
    chance / a0 is higher). CI over repeats."""
    rows = []
    keys = _settings(noise)
    for key, g in noise[noise.eta > 0].groupby(keys):
        chance = CHANCE.get(g.dataset.iloc[0], 0.0)
        corrected = (g.accuracy - chance) / (g.clean_accuracy - chance)
        per_repeat = corrected.groupby(g.repeat).mean().to_numpy()
        mean, lo, hi = metrics.mean_ci(per_repeat, confidence)
        rows.append(dict(zip(keys, key), a_avr_corrected=mean, lo=lo, hi=hi))
    return pd.DataFrame(rows)


def budget_caveat(noise: pd.DataFrame) -> str:
    """What a reader must know before believing this study's verdicts: how well its models
    trained against the paper's, how many draws on how many images, and what was left out."""
    runs = noise.groupby("run_id")[["dataset", "model", "variant", "clean_accuracy", "test_images"]].first()
    paper = paper_accuracy()
    paper_clean = paper[(paper.eta == 0) & paper.dataset.isin(runs.dataset)].accuracy
    draws = noise[noise.eta > 0].groupby(["run_id", "eta"]).size().min()
    text = (f"models at {100 * runs.clean_accuracy.min():.0f}-{100 * runs.clean_accuracy.max():.0f}% clean accuracy"
            + (f" (the paper's: {100 * paper_clean.min():.0f}-{100 * paper_clean.max():.0f}%)" if len(paper_clean) else "")
            + f"; {draws} noise draws per level on {int(runs.test_images.max()):,} test images")
    left_out = untrained_runs(noise)
    if len(left_out):
        text += "; left out as untrained (clean accuracy below {}x chance): ".format(TRAINED_MULTIPLE_OF_CHANCE) + ", ".join(
            f"{r.model} {r.variant} ({100 * r.clean_accuracy:.1f}%)" for r in left_out.itertuples())
    return text


def _clean(summary):
    return summary[summary.eta == 0].set_index(["dataset", "model", "variant"])["accuracy"]


def claims_checklist(noise: pd.DataFrame) -> pd.DataFrame:
    """Each claim of the paper's section IV and conclusion, and what this study's runs say.

    Columns: section, claim, verdict (supported / partly supported / not supported /
    inconclusive / not testable in this study), evidence (numbers a reader can check against
    the tables), caveat (the study's budget, the same for every claim). Models that did not
    train (:func:`is_trained`) are left out of every check.
    """
    caveat = budget_caveat(noise)
    noise = noise[~noise.run_id.isin(untrained_runs(noise).run_id)]
    summary = summarize(noise)
    a_avr = eq14(noise)
    clean = _clean(summary)
    rows = []

    def add(section, claim, passed, total, evidence, needs="", failed=None, size_note=""):
        said = verdict(passed, total, failed)
        rows.append(dict(section=section, claim=claim, verdict=f"{said} ({size_note})" if size_note and said == SUPPORTED
                         else said, evidence=evidence if total else f"needs {needs}", caveat=caveat))

    pairs = [(d, m, other) for (d, m, v) in clean.index if v == "BN"
             for other in ("no BN", "partial BN") if (d, m, other) in clean.index]
    ev = [f"{DATASET_LABELS[d]} {m}: BN {100 * clean[(d, m, 'BN')]:.2f}% vs {v} {100 * clean[(d, m, v)]:.2f}%"
          for d, m, v in pairs]
    add("IV-1, IV-2", "Models with BN have a higher clean (eta = 0) accuracy than without BN.",
        sum(clean[(d, m, "BN")] > clean[(d, m, v)] for d, m, v in pairs), len(pairs), "; ".join(ev),
        "a model trained both with and without BN")

    rises, monotone, groups = [], 0, summary.groupby(["dataset", "model", "variant"])
    for (d, m, v), g in groups:
        g = g.sort_values("eta")
        steps = [(e1, a1, e2, a2) for e1, a1, e2, a2 in zip(g.eta, g.accuracy, g.eta[1:], g.accuracy[1:])
                 if a2 - a1 > 0.01]
        monotone += not steps
        rises += [f"{m} {v}: {100 * a1:.2f}% at {100 * e1:g}% -> {100 * a2:.2f}% at {100 * e2:g}%"
                  for e1, a1, e2, a2 in steps]
    add("IV-1", "Accuracy decreases as the noise factor eta grows, with and without BN.",
        monotone, groups.ngroups,
        "no rise of more than 1 pp between consecutive etas" if not rises else "rises: " + "; ".join(rises),
        "a noise grid")

    tests = []
    for (d, m), g in noise[noise.eta > 0].groupby(["dataset", "model"]):
        bn = g[g.variant == "BN"]
        for other_variant in ("no BN", "partial BN"):
            other = g[g.variant == other_variant]
            if len(bn) and len(other):
                tests.append((d, m, other_variant, *welch(metrics.eq14_per_repeat(bn), metrics.eq14_per_repeat(other))))
    adjusted = holm([t[-1] for t in tests]) if tests else []
    ev = [f"{m} vs {v}: {100 * diff:+.1f} pp [{100 * lo:+.1f}, {100 * hi:+.1f}], Holm p = {p:.2g}"
          for (d, m, v, diff, lo, hi, _), p in zip(tests, adjusted)]
    add("IV-1, IV-2, VI", "BN models lose a larger fraction of their accuracy under noise than the same models "
        "without BN (eq. 14 over its draws, BN minus no BN, one Welch test per model, Holm-corrected across models).",
        sum(diff < 0 and p < 0.05 for (*_, diff, lo, hi, _), p in zip(tests, adjusted)), len(tests),
        "; ".join(ev), "BN and no-BN runs of one model",
        failed=sum(diff > 0 and p < 0.05 for (*_, diff, lo, hi, _), p in zip(tests, adjusted)))

    at10 = summary[np.isclose(summary.eta, 0.1)].set_index(["dataset", "model", "variant"])["accuracy"]
    pairs10 = [(d, m, v) for d, m, v in pairs if (d, m, "BN") in at10.index and (d, m, v) in at10.index]
    ev = [f"{m}: BN {100 * at10[(d, m, 'BN')]:.2f}% vs {v} {100 * at10[(d, m, v)]:.2f}%" for d, m, v in pairs10]
    add("IV-1", "By eta = 10% the BN models' absolute accuracy has fallen below the no-BN models' (most models).",
        sum(at10[(d, m, "BN")] < at10[(d, m, v)] for d, m, v in pairs10), len(pairs10), "; ".join(ev),
        "eta = 10% and BN / no-BN pairs")

    bn_resnets = noise[(noise.variant == "BN") & noise.model.str.startswith("ResNet") & (noise.eta > 0)]
    passed = failed = total = 0
    ev = []
    for dataset, g in bn_resnets.groupby("dataset"):
        if g.model.nunique() < 2:
            continue
        per_draw = [(int(m.split("-")[1]), value) for m, run in g.groupby("model")
                    for value in metrics.eq14_per_repeat(run)]
        slope_pp, lo, hi = (100 * v for v in slope([x for x, _ in per_draw], [y for _, y in per_draw]))
        sign = direction(lo, hi, expected_sign=-1)
        total, passed, failed = total + 1, passed + (sign == 1), failed + (sign == -1)
        means = g.groupby("model").apply(lambda run: metrics.eq14_per_repeat(run).mean(), include_groups=False)
        ev.append(f"{DATASET_LABELS[dataset]}: eq. 14 by depth " + ", ".join(
            f"{m} {100 * a:.1f}%" for m, a in sorted(means.items(), key=lambda kv: int(kv[0].split("-")[1])))
            + f"; slope {slope_pp:+.3f} pp per layer, 95% CI [{lo:+.3f}, {hi:+.3f}] over the draws")
    add("IV-1, IV-2", "Among BN ResNets, shallower models are more noise-resistant than deeper ones "
        "(they have fewer BN layers): the slope of eq. 14 over depth is below 0.", passed, total, "; ".join(ev),
        "BN ResNets of two or more depths", failed=failed)

    n10 = summary[np.isclose(summary.eta, 0.1) & (summary.variant != "BN") & summary.model.str.startswith("ResNet")]
    checks, total, ev = 0, 0, []
    for dataset, g in n10.groupby("dataset"):
        if g.model.nunique() < 2:
            continue
        total += 1
        spread = g.normalized_accuracy.max() - g.normalized_accuracy.min()
        checks += bool(spread < 0.05)
        ev.append(f"{DATASET_LABELS[dataset]}: normalised accuracy at 10% spans {100 * spread:.1f} pp over depths")
    add("IV-1", "Without BN, ResNets' normalised accuracy at eta = 10% is about constant over depth "
        "(here: spread < 5 pp).", checks, total, "; ".join(ev), "no-BN ResNets of two or more depths")

    wide = a_avr.pivot_table(index=["model", "variant"], columns="dataset", values="a_avr")
    both = wide.dropna() if {"cifar10", "cifar100"} <= set(wide.columns) else pd.DataFrame(
        columns=["cifar10", "cifar100"], dtype=float)
    add("IV-3, VI", "The same model degrades more on CIFAR-100 (harder task) than on CIFAR-10 (eq. 14).",
        int((both["cifar100"] < both["cifar10"]).sum()), len(both),
        "; ".join(f"{m} {v}: CIFAR-10 {100 * r.cifar10:.1f}% vs CIFAR-100 {100 * r.cifar100:.1f}%"
                  for (m, v), r in both.iterrows()), "the same models on CIFAR-10 and CIFAR-100")

    pivot = a_avr.pivot_table(index=["dataset", "model"], columns="variant", values="a_avr")
    rows_t4 = [(k, r) for k, r in pivot.iterrows() if "BN" in r and r.drop("BN").notna().any()]
    ev = [f"{DATASET_LABELS[d]} {m}: BN {100 * r['BN']:.1f}% vs "
          + ", ".join(f"{v} {100 * r[v]:.1f}%" for v in r.index if v != "BN" and pd.notna(r[v]))
          for (d, m), r in rows_t4]
    paper = paper_table4().pivot_table(index=["dataset", "model"], columns="variant", values="a_avr")
    ours_gap = [100 * (r["no BN"] - r["BN"]) for k, r in rows_t4 if pd.notna(r.get("no BN"))]
    paper_gap = [100 * (paper.loc[k, "no BN"] - paper.loc[k, "BN"]) for k, r in rows_t4
                 if pd.notna(r.get("no BN")) and k in paper.index]
    size_note = ""
    if ours_gap and paper_gap:
        ev.append(f"no BN minus BN: ours {min(ours_gap):.1f}-{max(ours_gap):.1f} pp, the paper's "
                  f"{min(paper_gap):.1f}-{max(paper_gap):.1f} pp")
        if max(ours_gap) < 0.5 * min(paper_gap) or min(ours_gap) > 2 * max(paper_gap):
            size_note = "direction reproduced, size not"
    add("IV-4 (Table IV)", "Eq. 14 is lower with BN than without (or with partial BN), for every model and dataset.",
        sum(all(r["BN"] < r[v] for v in r.index if v != "BN" and pd.notna(r[v])) for _, r in rows_t4),
        len(rows_t4), "; ".join(ev), "BN and no-BN runs of one model", size_note=size_note)

    per_model = noise.groupby(["dataset", "model"])["variant"].nunique()
    layered = [k for k, n in per_model.items() if n >= 3]
    add("IV-4, VI", "The more BN layers, the higher the clean accuracy and the lower the noise resistance "
        "(partial BN trades one for the other).", *_layers_trend(noise, a_avr, clean, layered),
        "one model with BN, partial BN and no BN")
    return pd.DataFrame(rows)


def _layers_trend(noise, a_avr, clean, layered):
    """(passed, total, evidence) for the number-of-BN-layers claim."""
    passed, ev = 0, []
    layers = noise.groupby(["dataset", "model", "variant"])["bn"].first()
    for dataset, model in layered:
        g = a_avr[(a_avr.dataset == dataset) & (a_avr.model == model)].copy()
        g["clean"] = [clean[(dataset, model, v)] for v in g.variant]
        order = {"no BN": 0, "partial BN": 1, "BN": 2}
        g = g.sort_values("variant", key=lambda s: s.map(order))
        ok = g.clean.is_monotonic_increasing and g.a_avr.is_monotonic_decreasing
        passed += ok
        ev.append(f"{DATASET_LABELS[dataset]} {model}: " + "; ".join(
            f"{v} ({layers[(dataset, model, v)]}) clean {100 * c:.1f}%, eq. 14 {100 * a:.1f}%"
            for v, c, a in zip(g.variant, g.clean, g.a_avr)))
    return passed, len(layered), "; ".join(ev)


# ---------------------------------------------------------------- section II, measured
def load_theory(study) -> dict[str, pd.DataFrame]:
    """The theory measurements (``data/runs/<id>/theory/*.csv``) of every run of a study,
    labelled with dataset, model and variant: keys ``checkpoints``, ``minibatch``, ``layers``."""
    config = study if isinstance(study, dict) else load_study(study)
    tables: dict[str, list] = {"checkpoints": [], "minibatch": [], "layers": []}
    missing = []
    for cell in expand(config):
        folder = resolve(RUNS_DIR) / cell.run_id / "theory"
        if not folder.is_dir():
            missing.append(cell.run_id)
            continue
        labels = dict(dataset=cell.params["dataset"], model=cell.model, variant=cell.variant,
                      learning_rate=cell.params["learning_rate"], batch_size_trained=cell.params["batch_size"])
        for name in tables:
            tables[name].append(pd.read_csv(folder / f"{name}.csv").assign(**labels))
    if missing:
        raise FileNotFoundError(f"no theory measurements for {', '.join(missing)}; run "
                                f"`snakemake --cores 2 --config study={config['name']}`")
    return {name: pd.concat(parts, ignore_index=True) for name, parts in tables.items()}


def minibatch_summary(minibatch: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Mean minibatch noise power with a CI per (run, epoch, mode, batch size), beside eq. 7's
    prediction C / |B| * (M - |B|) / (M - 1); ``ratio`` = measured / predicted."""
    keys = ["run_id", "dataset", "model", "variant", "epoch", "training", "batch_size"]
    rows = []
    for key, g in minibatch.groupby(keys):
        mean, lo, hi = metrics.mean_ci(g["power"], confidence)
        predicted = g["predicted"].iloc[0]
        rows.append(dict(zip(keys, key), power=mean, power_lo=lo, power_hi=hi, predicted=predicted,
                         ratio=mean / predicted, ratio_lo=lo / predicted, ratio_hi=hi / predicted))
    return pd.DataFrame(rows)


def power_law_fit(minibatch: pd.DataFrame) -> tuple[float, float]:
    """Least-squares slope and intercept of log(mean power) vs log(batch size); eq. 7 says -1."""
    means = minibatch.groupby("batch_size")["power"].mean()
    slope, intercept = np.polyfit(np.log(means.index.to_numpy(float)), np.log(means.to_numpy()), 1)
    return float(slope), float(intercept)


def theory_vs_robustness(checkpoints: pd.DataFrame, noise: pd.DataFrame) -> pd.DataFrame:
    """Per run, the final checkpoint's gradient noise and smoothness beside eq. 14."""
    final = checkpoints.loc[checkpoints.groupby("run_id")["epoch"].idxmax()]
    robust = pd.DataFrame([dict(run_id=run, **dict(zip(("a_avr", "a_avr_lo", "a_avr_hi"),
                                                       metrics.average_normalized_accuracy_ci(g))))
                           for run, g in noise.groupby("run_id")])
    columns = ["run_id", "dataset", "model", "variant", "epoch", "c", "relative_c", "full_gradient_norm",
               "loss_range", "gradient_change", "beta_smoothness"]
    return final[columns].merge(robust, on="run_id", validate="one_to_one").reset_index(drop=True)


def theory_claims(checkpoints: pd.DataFrame, minibatch: pd.DataFrame, noise: pd.DataFrame) -> pd.DataFrame:
    """Section II's statements, and what the measurements say (verdicts as in claims_checklist)."""
    rows = []

    def add(claim, passed, total, evidence, needs="", failed=None):
        rows.append(dict(claim=claim, verdict=verdict(passed, total, failed),
                         evidence=evidence if total else f"needs {needs}"))

    summary = minibatch_summary(minibatch)
    independent = summary[~summary.training]
    inside = (independent.ratio_lo <= 1) & (1 <= independent.ratio_hi)
    add("Eq. 7: the minibatch gradient noise power is alpha^2 C / |B| (BN with moving statistics, "
        "samples independent).", int(inside.sum()), len(independent),
        f"measured / predicted power: median {independent.ratio.median():.2f}, range "
        f"{independent.ratio.min():.2f}-{independent.ratio.max():.2f}; the 95% CI contains 1 in "
        f"{int(inside.sum())} of {len(independent)} (run, checkpoint, batch size) cells",
        failed=int((~inside).sum()))
    slopes = []
    for (run, variant, epoch, training), g in minibatch.groupby(["run_id", "variant", "epoch", "training"]):
        if g.batch_size.nunique() >= 2:
            slopes.append(power_law_fit(g)[0])
    slopes = np.array(slopes)
    near = np.abs(slopes + 1) <= 0.25
    add("The noise power scales as 1/|B| in both BN modes (log-log slope -1 +- 0.25; the finite-pool "
        "factor steepens it slightly).", int(near.sum()), len(slopes),
        f"slopes: median {np.median(slopes):.2f}, range {slopes.min():.2f} to {slopes.max():.2f}"
        if len(slopes) else "", "two or more batch sizes", failed=int((~near).sum()))
    coupled = summary[summary.training & (summary.variant != "no BN") & (summary.epoch > 0)]
    add("With BN's batch statistics (what SGD sees) the power is still what eq. 7 predicts from the "
        "independent-sample C (trained checkpoints).",
        int(((coupled.ratio_lo <= 1) & (1 <= coupled.ratio_hi)).sum()), len(coupled),
        f"measured / predicted: median {coupled.ratio.median():.2f}, range "
        f"{coupled.ratio.min():.2f}-{coupled.ratio.max():.2f}: BN's batch coupling changes the noise SGD sees"
        if len(coupled) else "", "a run with BN", failed=int(((coupled.ratio_hi < 1) | (coupled.ratio_lo > 1)).sum()))

    pairs = []
    for (dataset, model), g in checkpoints.groupby(["dataset", "model"]):
        bn, other = g[g.variant == "BN"], g[g.variant != "BN"]
        if bn.empty or other.empty:
            continue
        merged = bn.merge(other, on="epoch", suffixes=("_bn", "_other"))
        pairs.append((model, merged))
    for column, claim in (("c", "BN lowers the gradient noise C (eq. 6) of training."),
                          ("relative_c", "BN lowers the gradient noise relative to the gradient, C / ||g_D||^2."),
                          ("loss_range", "BN smooths the loss: a smaller loss change along the gradient (Lipschitzness)."),
                          ("beta_smoothness", "BN makes gradients more predictive: a smaller effective beta-smoothness.")):
        evidence, passed, total = [], 0, 0
        for model, merged in pairs:
            trained = merged[merged.epoch > 0]
            total += len(trained)
            passed += int((trained[f"{column}_bn"] < trained[f"{column}_other"]).sum())
            evidence.append(f"{model}: " + ", ".join(
                f"epoch {int(r.epoch)} {r[f'{column}_bn']:.3g} vs {r[f'{column}_other']:.3g}"
                for _, r in trained.iterrows()))
        add(claim + " (BN vs no BN, at each trained checkpoint)", passed, total, "; ".join(evidence),
            "BN and no-BN runs of one model")

    sgd = summary[summary.training & (summary.epoch > 0)]
    compared = []
    for (dataset, model), g in sgd.groupby(["dataset", "model"]):
        at = g[g.batch_size == g.batch_size.max()]
        merged = at[at.variant == "BN"].merge(at[at.variant != "BN"], on="epoch", suffixes=("_bn", "_other"))
        compared.append((model, int(at.batch_size.max()), merged))
    add("BN lowers the minibatch gradient noise power SGD sees (batch statistics, largest measured "
        "batch; BN vs no BN, 95% CIs apart).",
        sum(int((m.power_hi_bn < m.power_lo_other).sum()) for _, _, m in compared),
        sum(len(m) for _, _, m in compared),
        "; ".join(f"{model}, |B| = {size}: " + ", ".join(
            f"epoch {int(r.epoch)} {r.power_bn:.3g} vs {r.power_other:.3g}" for r in m.itertuples())
            for model, size, m in compared),
        "BN and no-BN runs of one model",
        failed=sum(int((m.power_lo_bn > m.power_hi_other).sum()) for _, _, m in compared))

    link = theory_vs_robustness(checkpoints, noise)
    evidence, passed, total = [], 0, 0
    for (dataset, model), g in link.groupby(["dataset", "model"]):
        if g.variant.nunique() < 2:
            continue
        ordered = g.sort_values("c")
        total += 1
        passed += int(ordered.a_avr.is_monotonic_increasing)
        evidence.append(f"{model}: " + ", ".join(
            f"{r.variant} C {r.c:.3g}, eq. 14 {100 * r.a_avr:.1f}%" for r in ordered.itertuples()))
    add("More gradient noise in training gives a more noise-resistant model (higher C, higher eq. 14).",
        passed, total, "; ".join(evidence), "two variants of one model")
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- pretrained models
def pretrained_eq14(models: pd.DataFrame, noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Eq. 14 (%, with a CI over draws) of each pretrained model (rows, in the order of
    ``models``) under each choice of noise targets (columns), as "mean ± half-width"."""
    order = [t for t in ABLATION_TARGETS if t in set(noise.targets)]
    table = {}
    for model in models.itertuples():
        row = {}
        for targets in order:
            trials = noise[(noise.run_id == model.run_id) & (noise.targets == targets)]
            mean, lo, hi = metrics.average_normalized_accuracy_ci(trials, confidence)
            row[ABLATION_TARGETS[targets]] = _pct(mean, lo, hi)
        table[f"{model.model} ({100 * model.clean_accuracy:.1f}% clean)"] = row
    return pd.DataFrame.from_dict(table, orient="index")


# ---------------------------------------------------------------- companion: learning rate


def learning_rate_table(noise: pd.DataFrame, checkpoints: pd.DataFrame | None = None,
                        confidence: float = 0.95) -> pd.DataFrame:
    """One row per (dataset, model, variant, batch size, learning rate): clean accuracy, mean
    accuracy under noise (over the non-zero etas; CI over repeats), eq. 14 with a CI,
    ``trained`` (see :func:`is_trained`) and, with the theory ``checkpoints``,
    the last checkpoint's C and the per-step noise power lr^2 C / |B| (eq. 7)."""
    rows = []
    keys = _settings(noise)
    for key, g in noise.groupby(keys):
        noisy = g[g.eta > 0]
        per_repeat = noisy.groupby(["seed", "repeat"])["accuracy"].mean()
        mean, lo, hi = metrics.mean_ci(per_repeat.to_numpy(), confidence)
        a_avr, a_lo, a_hi = eq14(g, confidence)[["a_avr", "a_avr_lo", "a_avr_hi"]].iloc[0]
        row = dict(zip(keys, key), run_id=g.run_id.iloc[0], clean_accuracy=g.clean_accuracy.mean(),
                   noisy_accuracy=mean, noisy_lo=lo, noisy_hi=hi, a_avr=a_avr, a_avr_lo=a_lo, a_avr_hi=a_hi)
        row["trained"] = bool(is_trained(row["clean_accuracy"], row["dataset"]))
        rows.append(row)
    table = pd.DataFrame(rows)
    if checkpoints is not None:
        last = checkpoints.loc[checkpoints.groupby("run_id")["epoch"].idxmax(), ["run_id", "c", "relative_c"]]
        table = table.merge(last, on="run_id", how="left")
        table["step_noise_power"] = table.learning_rate ** 2 * table.c / table.batch_size
    return table.sort_values([*[k for k in keys if k != "learning_rate"], "learning_rate"]).reset_index(drop=True)


def sweet_spots(table: pd.DataFrame) -> pd.DataFrame:
    """Per model (and batch size): the learning rate with the best clean accuracy, the best
    eq. 14 among runs that trained, and the best accuracy under noise (the sweet spot), and
    whether the sweet spot lies strictly inside the grid."""
    rows = []
    for key, g in table.groupby([k for k in _settings(table) if k != "learning_rate"]):
        trained = g[g.trained]
        best = g.loc[g.noisy_accuracy.idxmax()]
        rows.append(dict(zip([k for k in _settings(table) if k != "learning_rate"], key),
                         best_clean_lr=g.loc[g.clean_accuracy.idxmax(), "learning_rate"],
                         best_eq14_lr=trained.loc[trained.a_avr.idxmax(), "learning_rate"] if len(trained) else np.nan,
                         sweet_spot_lr=best.learning_rate, sweet_spot_noisy_accuracy=best.noisy_accuracy,
                         interior=g.learning_rate.min() < best.learning_rate < g.learning_rate.max()))
    return pd.DataFrame(rows)


def learning_rate_claims(table: pd.DataFrame) -> pd.DataFrame:
    """The learning-rate paper's claims and the eq. 7 link, checked (verdicts as elsewhere)."""
    rows = []

    def add(claim, passed, total, evidence, needs):
        rows.append(dict(claim=claim, verdict=verdict(passed, total), evidence=evidence if total else f"needs {needs}"))

    trained_runs = table[table.trained].groupby("model").size()
    spots = sweet_spots(table)
    spots = spots[spots.model.map(trained_runs).fillna(0) >= 3]
    add("There is a sweet spot: the learning rate with the best accuracy under noise lies strictly "
        "inside the range, with worse results at both ends.", int(spots.interior.sum()), len(spots),
        "; ".join(f"{r.model}: sweet spot {r.sweet_spot_lr:g} (accuracy under noise {100 * r.sweet_spot_noisy_accuracy:.1f}%), "
                  f"best clean accuracy at {r.best_clean_lr:g}" for r in spots.itertuples()),
        "three or more trained runs per model")

    groups = [(m, g[g.trained]) for m, g in table.groupby("model")]
    groups = [(m, g) for m, g in groups if len(g) >= 3]
    for x, y, claim in (("learning_rate", "a_avr", "Among models that trained, a higher learning rate gives a "
                         "more noise-resistant model (eq. 14 rises with the learning rate)."),
                        ("learning_rate", "step_noise_power", "The per-step gradient noise alpha^2 C / |B| (eq. 7) "
                         "rises with the learning rate."),
                        ("step_noise_power", "a_avr", "More per-step gradient noise in training gives a more "
                         "noise-resistant model (eq. 14 rises with alpha^2 C / |B|).")):
        usable = [(m, g) for m, g in groups if {x, y} <= set(g) and g[[x, y]].notna().all().all()]
        tests = [(m, len(g), *spearman(g[x], g[y])) for m, g in usable]
        rows.append(dict(claim=claim + " Spearman rank correlation, significant at p < 0.05 (exact p for few runs).",
                         verdict=verdict(sum(rho > 0 and p < 0.05 for _, _, rho, p in tests), len(tests),
                                         sum(rho < 0 and p < 0.05 for _, _, rho, p in tests)),
                         evidence="; ".join(f"{m}: rho {rho:+.2f} (p = {p:.2g}) over {n} trained runs"
                                            for m, n, rho, p in tests) if tests else "needs three or more trained runs per model"))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- companion: architectures
def architecture_table(runs: pd.DataFrame, noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """The architecture benchmark, ranked by eq. 14 (best first): one row per (dataset, model,
    variant) with family, depth (weight layers), width (features into the classifier),
    parameters, clean accuracy on the noise test images, mean accuracy under noise, eq. 14
    with its CI, and ``trained`` (see :func:`is_trained`). Models that did not
    train come last, unranked: a constant output is trivially "robust"."""
    keys = ["dataset", "model", "variant"]
    table = learning_rate_table(noise, confidence=confidence).drop(columns=["learning_rate", "batch_size"], errors="ignore")
    facts = runs.groupby(keys)[["family", "weight_layers", "final_channels", "parameters"]].first().reset_index()
    table = table.merge(facts, on=keys).sort_values(["dataset", "trained", "a_avr"], ascending=[True, False, False])
    rank = table[table.trained].groupby("dataset").cumcount() + 1
    table.insert(0, "rank", rank.reindex(table.index).astype("Int64"))  # <NA>: did not train, not ranked
    return table.reset_index(drop=True)


def architecture_claims(table: pd.DataFrame) -> pd.DataFrame:
    """The benchmarking paper's claims, checked on ``architecture_table`` (trained models only):
    deeper models, and models with more redundancy (more parameters; VGG), are more robust."""
    trained = table[table.trained]
    rows = []
    for column, claim in (("weight_layers", "Deeper models are more robust to weight noise (eq. 14 rises with "
                           "the number of weight layers)."),
                          ("parameters", "Models with more redundancy are more robust (eq. 14 rises with the "
                           "parameter count)."),
                          ("final_channels", "Wider models are more robust (eq. 14 rises with the features "
                           "entering the classifier).")):
        if trained[column].nunique() < 3:
            rows.append(dict(claim=claim, verdict=UNTESTABLE, evidence="needs three or more trained models "
                             f"with different {column.replace('_', ' ')}"))
            continue
        rho, p_value = spearman(trained[column], trained.a_avr)
        significant = p_value < 0.05
        rows.append(dict(claim=claim + " Spearman rank correlation over the trained models, significant at p < 0.05 "
                         "(exact p for few models).",
                         verdict=verdict(int(significant and rho > 0), 1, int(significant and rho < 0)),
                         evidence=f"rho {rho:+.2f} (p = {p_value:.2g}) over {len(trained)} models"))
    vgg, others = trained[trained.family == "VGG"], trained[trained.family != "VGG"]
    claim = "VGG, the most redundant design, is among the most robust (its eq. 14 CI lies above the other families' means)."
    if vgg.empty or others.empty:
        rows.append(dict(claim=claim, verdict=UNTESTABLE, evidence="needs a trained VGG16 and other trained models"))
    else:
        v = vgg.iloc[0]
        above = int((v.a_avr_lo > others.a_avr).sum())
        below = int((v.a_avr_hi < others.a_avr).sum())
        rows.append(dict(claim=claim, verdict=verdict(above, len(others), below),
                         evidence=f"VGG16 eq. 14 {100 * v.a_avr:.1f}% [{100 * v.a_avr_lo:.1f}, {100 * v.a_avr_hi:.1f}], "
                                  f"rank {int(v['rank'])} of {len(trained)}; above {above}, below {below} of "
                                  f"{len(others)} other models"))
    return pd.DataFrame(rows)
