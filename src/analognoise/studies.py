"""Study configs (``studies/<name>.yaml``): a grid of training runs plus one noise setting.

A config has ``name``, ``description``, ``grid`` (lists of ``dataset``, ``model`` such as
``resnet20`` or ``vgg16``, ``bn`` placements, ``seed``, and optionally lists of any training
parameter, e.g. ``learning_rate`` or ``batch_size``, as further axes), optional ``replace`` rules
(``{match: {...grid keys...}, bn: ...}``: e.g. partial BN where no-BN does not train),
optional ``exclude`` rules (``{...grid keys...}``: grid points left out, e.g. extra seeds of the
costliest model),
``training`` (training parameters, or ``preset``) and ``noise`` (``etas``, ``repeats``,
``targets``, ``scale``, ``test_subset``, ``seed``, and ``noise_model``: a spec of
:mod:`analognoise.noisemodels`, default the paper's) and ``theory`` (the section II
measurements; see :data:`analognoise.params.THEORY_DEFAULTS`), and optionally
``ablation`` (``{targets: [...], repeats: N}``: the same noise grid, optionally with fewer
draws, repeated for each listed noise target)
and ``companions``: names of companion studies (e.g. the learning-rate study) built with it,
and ``weights``: which finished runs' weights ``make commit-runs`` commits (:data:`WEIGHTS`).
:func:`expand` turns it into cells, each one training run (identified by its run id) with its
noise, ablation and theory settings.

A study's results can be exported to a folder (``results/<name>/``, see
:func:`analognoise.analysis.export_results`); :func:`load_study` also accepts such a folder.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .noisemodels import make_noise_model
from .params import (
    ARCHITECTURES,
    DEFAULTS,
    OPTIONAL,
    TARGETS,
    same_noise_targets,
    make_params,
    model_label,
    run_id,
    validate_noise_params,
    validate_theory_params,
)
from .paths import RUNS_DIR, STUDIES_DIR, resolve
from .schema import check_study

GRID_KEYS = ("dataset", "model", "bn", "seed")
#: what a study commits of its finished runs' weights (``weights:``; default ``all``): every run's,
#: only those on their model's accuracy / robustness Pareto front (a study of large models, e.g.
#: VGG16 at 60 MB a run), or none; the tidy results of every finished run are committed regardless
WEIGHTS = ("all", "front", "none")
NOISE_KEYS = ("etas", "repeats", "targets", "scale", "test_subset", "seed", "noise_model")


@dataclass(frozen=True)
class Cell:
    """One run of a study: its training parameters and the noise grid applied to it."""

    run_id: str
    params: dict
    noise: dict = field(hash=False)
    theory: dict = field(hash=False, default_factory=dict)
    ablation: tuple = ()
    ablation_noise: dict = field(hash=False, default_factory=dict)  # overrides, e.g. repeats

    @property
    def ablation_runs(self) -> list[str]:
        """The ablation targets that need their own noise run: not the main targets, nor a
        target that selects the same tensors as the main targets on this model."""
        return [t for t in self.ablation
                if not same_noise_targets(t, self.noise.get("targets", "trainable"), self.params["bn"])]

    @property
    def model(self) -> str:
        return model_label(self.params["arch"], self.params["depth"], self.params.get("width", 1))

    @property
    def variant(self) -> str:
        """"BN" (every site), "no BN", or "partial BN"."""
        bn = self.params["bn"]
        return {"all": "BN", "none": "no BN"}.get(bn, "partial BN") if isinstance(bn, str) else "partial BN"


def study_path(study) -> Path:
    """A config path, the name of a config in ``studies/`` (smoke, quick, paper, ...), or a
    folder of exported results (its ``study.yaml``)."""
    path = Path(str(study))
    if path.suffix in (".yaml", ".yml"):
        return resolve(path)
    if (resolve(path) / "study.yaml").is_file():
        return resolve(path) / "study.yaml"
    candidate = resolve(STUDIES_DIR) / f"{study}.yaml"
    if not candidate.is_file():
        known = sorted(p.stem for p in resolve(STUDIES_DIR).glob("*.yaml"))
        raise ValueError(f"unknown study {study!r}: choose one of {', '.join(known)} or give a .yaml path")
    return candidate


def load_study(study) -> dict:
    """The parsed config of a study (name, path, or exported results folder), validated: bad
    values raise here. From a results folder, ``config["results_dir"]`` names that folder."""
    path = study_path(study)
    if not path.is_file():
        raise FileNotFoundError(f"study config {path} does not exist")
    config = yaml.safe_load(path.read_text())
    check_study(config, str(path))
    config["path"] = str(path)
    if path.name == "study.yaml":
        config["results_dir"] = str(path.parent)
    try:
        expand(config)  # validates every cell
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    return config


def parse_model(name: str) -> dict:
    """A grid's model name -> architecture parameters: "resnet20" -> {arch: resnet, depth: 20};
    "wrn20-4" -> also {width: 4}; "vgg16", "mobilenetv2", "densenet121" -> {arch: name, depth: None}."""
    match = re.fullmatch(r"resnet(\d+)|wrn(\d+)-(\d+)", str(name))
    if match:
        depth, wide_depth, width = match.groups()
        if depth:
            return dict(arch="resnet", depth=int(depth))
        return dict(arch="resnet", depth=int(wide_depth), width=int(width))
    if name in ARCHITECTURES and name != "resnet":
        return dict(arch=name, depth=None)
    raise ValueError(f"unknown model {name!r} in study grid: use resnet<depth> (depth 6n+2), "
                     f"wrn<depth>-<width>, or one of {', '.join(a for a in ARCHITECTURES if a != 'resnet')}")


def _bn_for(cell: dict, rules: list[dict]):
    for rule in rules:
        if all(cell.get(k) == v for k, v in rule["match"].items()):
            return rule["bn"]
    return cell["bn"]


def expand(config: dict) -> list[Cell]:
    """All cells of a study, in grid order; raises ValueError on any bad setting."""
    if config.get("weights", "all") not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)} (what make commit-runs commits of the "
                         f"finished runs' weights), got {config['weights']!r}")
    grid = config.get("grid", {})
    missing = [k for k in GRID_KEYS if k not in grid]
    if missing:
        raise ValueError(f"study grid needs {', '.join(missing)} (lists)")
    extra_axes = [k for k in grid if k not in GRID_KEYS]
    unknown_axes = [k for k in extra_axes if k not in DEFAULTS and k not in OPTIONAL]
    if unknown_axes:
        raise ValueError(f"unknown grid axes {unknown_axes}: use {', '.join(GRID_KEYS)} or training "
                         f"parameters ({', '.join(sorted([*DEFAULTS, *OPTIONAL]))})")
    noise = {**config.get("noise", {})}
    unknown = set(noise) - set(NOISE_KEYS)
    if unknown:
        raise ValueError(f"unknown noise settings {sorted(unknown)}; valid: {', '.join(NOISE_KEYS)}")
    noise["etas"] = validate_noise_params(noise.get("etas", []), noise.get("repeats", 0),
                                          noise.get("targets", "trainable"), noise.get("scale", "tensor"))
    if "noise_model" in noise:  # a spec of analognoise.noisemodels, kept as written
        make_noise_model(noise["noise_model"]).check_levels(noise["etas"])
    theory = validate_theory_params(config.get("theory", {}))
    ablation_config = dict(config.get("ablation") or {})
    ablation = tuple(ablation_config.pop("targets", []))
    if [t for t in ablation if t not in TARGETS] or set(ablation_config) - {"repeats"}:
        raise ValueError(f"ablation must be {{targets: [...], repeats: N (optional)}} with targets from "
                         f"{', '.join(TARGETS)}; got {config.get('ablation')!r}")
    validate_noise_params(noise["etas"], ablation_config.get("repeats", noise.get("repeats", 0)))
    training = dict(config.get("training", {}))
    preset = training.pop("preset", None)
    cells = []
    axes = [*GRID_KEYS, *extra_axes]
    exclude = config.get("exclude") or []
    if not isinstance(exclude, list) or not all(isinstance(r, dict) and set(r) <= set(axes) for r in exclude):
        raise ValueError(f"exclude must be a list of {{grid key: value}} rules over {', '.join(axes)}; "
                         f"got {exclude!r}")
    for values in itertools.product(*(grid[k] for k in axes)):
        point = dict(zip(axes, values))
        if any(all(point[k] == v for k, v in rule.items()) for rule in exclude):
            continue
        model = point.pop("model")
        architecture = parse_model(model)
        point["bn"] = _bn_for({**point, "model": model}, config.get("replace", []))
        params = make_params(preset, **{**training, **point, **architecture})
        cells.append(Cell(run_id(params), params, noise, theory, ablation, ablation_config))
    ids = [c.run_id for c in cells]
    if len(set(ids)) != len(ids):
        raise ValueError("the study grid lists the same run twice")
    return cells


def merge_cells(cells_by_study: dict[str, list[Cell]]) -> dict[str, Cell]:
    """Run id -> cell over several studies built together. A run that two studies share must
    have the same noise and theory settings there (else ValueError naming both studies)."""
    merged, owner = {}, {}
    for name, cells in cells_by_study.items():
        for cell in cells:
            known = merged.setdefault(cell.run_id, cell)
            owner.setdefault(cell.run_id, name)
            if (known.noise, known.theory) != (cell.noise, cell.theory):
                raise ValueError(f"run {cell.run_id} is in studies {owner[cell.run_id]!r} and {name!r} with "
                                 "different noise or theory settings: make them equal, or change a training "
                                 "setting so that the runs differ")
    return merged


def train_parameters(cell: Cell) -> dict:
    """papermill parameters of notebooks/train.ipynb for this cell."""
    return dict(cell.params)


def noise_parameters(cell: Cell, runs_dir: str = RUNS_DIR, targets: str | None = None) -> dict:
    """papermill parameters of notebooks/inject_noise.ipynb for this cell: its main noise grid
    (written to ``noise.csv``), or the same grid on other ``targets`` (``noise-<targets>.csv``)."""
    parameters = {"run_dir": f"{runs_dir}/{cell.run_id}", **cell.noise}
    if targets is not None:
        parameters.update(cell.ablation_noise, targets=targets, output=noise_file(targets))
    return parameters


def noise_file(targets: str) -> str:
    """File name, in the run directory, of the ablation noise table for ``targets``."""
    return f"noise-{targets}.csv"


def theory_parameters(cell: Cell, runs_dir: str = RUNS_DIR) -> dict:
    """papermill parameters of notebooks/measure_theory.ipynb for this cell."""
    return {"run_dir": f"{runs_dir}/{cell.run_id}", **cell.theory}


#: the kinds of companion study, each shown by its own book chapter (a companion config says
#: which in its ``kind`` key)
COMPANION_KINDS = ("learning-rate", "architectures")


def companions(config: dict, override: str | None = None) -> list[dict]:
    """The companion studies of a main study (its ``companions`` list, or ``override``: a
    comma-separated list of names, "none" for none), loaded and validated; each must say its
    ``kind`` (one of :data:`COMPANION_KINDS`), and a build takes at most one of each kind."""
    if override is None:
        names = config.get("companions", [])
    else:
        names = [n for n in str(override).split(",") if n and n != "none"]
    loaded = [load_study(name) for name in names]
    kinds = [c.get("kind") for c in loaded]
    for name, kind in zip(names, kinds):
        if kind not in COMPANION_KINDS:
            raise ValueError(f"companion study {name!r} needs `kind: <one of {', '.join(COMPANION_KINDS)}>` "
                             f"in its config (which chapter shows it); got {kind!r}")
    if len(set(kinds)) != len(kinds):
        raise ValueError(f"companions {names} include two studies of one kind: a build shows one of each")
    return loaded
