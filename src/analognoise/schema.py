"""Every config's schema, written once with pydantic: the keys each kind of config may have,
their types, ranges, defaults and meaning. :data:`CONFIGS` names the kinds: a study config
(``studies/<name>.yaml``, companions included), a device-noise config
(``studies/device/``), a pretrained-models config (``studies/pretrained/``), a mechanism config
(``studies/mechanism/``) and a BN-search config (``studies/bnsearch/``). :func:`check` refuses
a key that is not in the schema naming the file, the key and the nearest valid key ("did you
mean `noise`?"), a value of the wrong type or range, and a missing key, before any compute; each
loader then checks what needs the library (depths, placements, noise models, committed weights).
:func:`reference` lists every key for the book's reference page, from the same schemas, so the
docs cannot drift from the code.
"""
from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .params import DEFAULTS, OPTIONAL, PRESETS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Noise(_Strict):
    """The noise grid of every run of the study."""

    etas: list[float] = Field(description="noise levels of the noise model (the paper's: eta, 0.1 = 10%)")
    repeats: int = Field(ge=1, description="independent noise draws per level")
    targets: str = Field("trainable", description="which tensors get noise: kernels, kernels+biases, trainable, "
                                                  "all, folded")
    scale: Literal["tensor", "layer"] = Field("tensor", description="noise scale from each tensor's statistics, "
                                                                    "or pooled over a layer's selected tensors")
    test_subset: int | str | None = Field(None, description="test images: None (all), N (class-balanced), "
                                                            "'first:N' (the first N)")
    seed: int = Field(0, ge=0, description="base seed of the noise draws")
    noise_model: Any = Field(None, description="a noise model spec (analognoise.noisemodels); None: the paper's")


class Ablation(_Strict):
    """The same noise grid on other choices of noisy tensors."""

    targets: list[str] = Field(description="noise targets, each run as its own grid")
    repeats: int | None = Field(None, ge=1, description="draws per level (default: the noise grid's)")


class Rule(_Strict):
    """A replace rule: grid points that match get another BN placement."""

    match: dict[str, Any] = Field(description="grid keys and values to match")
    bn: Any = Field(description="the placement those points get")


class Commit(_Strict):
    """What ``make commit-runs`` may add to the repository."""

    max_file_mb: float = Field(15.0, gt=0, description="no weights or training-state file over this size (MB)")
    max_total_mb: float = Field(200.0, gt=0, description="a commit adding more weights and states than this is refused")


class Study(_Strict):
    """A study config: a grid of training runs and one noise setting."""

    name: str = Field(description="the study's name (its results go to results/<name>/)")
    description: str = Field("", description="what the study measures, shown in the book")
    kind: Literal["learning-rate", "architectures"] | None = Field(
        None, description="a companion study's kind: which companion chapter shows it")
    grid: dict[str, list] = Field(description="lists of dataset, model, bn, seed, and optionally any training "
                                              "parameter as a further axis")
    replace: list[Rule] = Field([], description="rules that change the BN placement of matching grid points")
    exclude: list[dict[str, Any]] = Field([], description="grid points left out ({grid key: value} rules)")
    training: dict[str, Any] = Field({}, description="training parameters shared by every run, or a preset "
                                                     "with explicit values that override it")
    noise: Noise = Field(description="the noise grid")
    theory: dict[str, Any] = Field({}, description="the section II measurements (analognoise.params.THEORY_DEFAULTS)")
    ablation: Ablation | None = Field(None, description="the noise grid on other noise targets")
    companions: list[str] = Field([], description="companion studies built with this one")
    weights: Literal["all", "front", "none"] = Field(
        "all", description="which finished runs' weights make commit-runs commits")
    commit: Commit = Field(Commit(), description="size limits on what make commit-runs commits")



class NoiseModelGrid(_Strict):
    """One noise model's grid in a device or mechanism config."""

    noise_model: Any = Field(description="a noise model spec (analognoise.noisemodels): a name (paper, additive-max, "
                                         "multiplicative, pcm, ...) or {name: ..., setting: value}")
    etas: list[float] = Field(min_length=1, description="levels in the noise model's unit (eta for the paper's; "
                                                        "seconds after programming for pcm)")
    repeats: int = Field(ge=1, description="independent noise draws per level")


class Sensitivity(_Strict):
    """Noise on one layer at a time (``only``) and on all but one (``all_but``)."""

    eta: float = Field(0.2, ge=0, description="the noise level (eta) of every trial")
    repeats: int = Field(5, ge=1, description="draws per layer and mode")
    targets: str = Field("trainable", description="which tensors of the layer get noise")
    modes: list[Literal["only", "all_but"]] = Field(["only", "all_but"], min_length=1,
                                                    description="noise on the layer only, or on every layer but it")


class Recalibration(_Strict):
    """BN statistics re-estimated after every trial (the mitigations chapter)."""

    images: list[Annotated[int, Field(ge=1)]] = Field([64, 256, 1024], min_length=1,
                                                      description="calibration image counts, each its own grid")
    batch_size: int = Field(128, ge=1, description="images per batch while re-estimating")
    targets: list[str] = Field(["kernels"], min_length=1, description="noise targets of the recalibrated grids "
                                                                      "(one target may be given as text)")
    noise_models: list[NoiseModelGrid] = Field(min_length=1, description="the grids to recalibrate")

    @field_validator("targets", mode="before")
    @classmethod
    def _one_target(cls, value):
        return [value] if isinstance(value, str) else value


class Device(_Strict):
    """A device-noise config (``make device``): committed runs under device noise models."""

    name: str = Field(description="results go to results/<name>/")
    description: str = Field("", description="what it measures, shown in the book")
    study: str = Field(description="the committed study (or results folder) whose runs are evaluated")
    runs: list[str] = Field([], description="run ids to evaluate (empty: every committed run of the study)")
    data_dir: str | None = Field(None, description="the dataset copy (None: the default one)")
    test_subset: int | str | None = Field(None, description="test images: None (all), N, 'first:N'")
    seed: int = Field(0, ge=0, description="base seed of the noise draws")
    targets: list[str] = Field(["trainable"], min_length=1, description="noise targets, each its own grid")
    noise_models: list[NoiseModelGrid] = Field(min_length=1, description="the noise models and their grids")
    sensitivity: Sensitivity | None = Field(None, description="the per-layer sensitivity grid (None: skipped)")
    recalibration: Recalibration | None = Field(None, description="the BN recalibration grids (None: skipped)")


class PretrainedNoise(_Strict):
    """The noise grid of a pretrained-models config."""

    etas: list[float] = Field(min_length=1, description="noise levels (eta, 0.1 = 10%)")
    repeats: int = Field(ge=1, description="independent noise draws per level")
    targets: str = Field("trainable", description="which tensors get noise")
    scale: Literal["tensor", "layer"] = Field("tensor", description="noise scale per tensor or per layer")
    test_subset: int | str | None = Field(None, description="test images: None (all), N, 'first:N'")
    seed: int = Field(0, ge=0, description="base seed of the noise draws")


class Pretrained(_Strict):
    """A pretrained-models config (``make pretrained``): model files under the noise grid."""

    name: str = Field(description="results go to results/<name>/")
    description: str = Field("", description="what it measures, shown in the book")
    models: list[str] = Field(min_length=1, description="Keras model files (.keras or .h5)")
    dataset: Literal["cifar10", "cifar100"] = Field(description="the test set the models classify")
    preprocessing: str = Field(description="how the models' inputs were normalised (analognoise.external)")
    data_dir: str | None = Field(None, description="the dataset copy (None: the default one)")
    noise: PretrainedNoise = Field(description="the noise grid")
    ablation: Ablation | None = Field(None, description="the noise grid on other noise targets")


class MechanismModel(_Strict):
    """One model of a mechanism config: a committed run, or a model file."""

    name: str = Field(description="a reader's label, unique in the config")
    recipe: str = Field(description="how it was trained (keras-200, keras-30, fast, ...)")
    study: str | None = Field(None, description="the committed study (or results folder) of ``run``")
    run: str | None = Field(None, description="a committed run id of ``study``")
    file: str | None = Field(None, description="a Keras model file (instead of study + run)")
    preprocessing: str | None = Field(None, description="a model file's input normalisation (default per_pixel_mean)")

    @model_validator(mode="after")
    def _one_source(self):
        if (self.file is None) == (self.study is None or self.run is None):
            raise ValueError("give either `study` and `run` (a committed run) or `file` (a model file)")
        return self


class Condition(_Strict):
    """One intervention condition of a mechanism config."""

    variant: Literal["original", "silenced"] = Field(description="the trained weights, or every dead BN channel "
                                                                 "silenced")
    targets: str = Field(description="which tensors get noise")
    noise_model: Any = Field(description="a noise model spec (paper, additive-rms, ...)")


class Mechanism(_Strict):
    """A mechanism config (``make mechanism``): interventions on trained weights."""

    name: str = Field(description="results go to results/<name>/")
    description: str = Field("", description="what it measures, shown in the book")
    data_dir: str | None = Field(None, description="the dataset copy (None: the default one)")
    test_subset: int | str | None = Field(None, description="test images: None (all), N, 'first:N'")
    seed: int = Field(0, ge=0, description="base seed of the noise draws")
    etas: list[float] = Field(min_length=1, description="noise levels of every condition")
    repeats: int = Field(ge=1, description="draws per level")
    models: list[MechanismModel] = Field(min_length=1, description="the models")
    conditions: list[Condition] = Field(min_length=1, description="the conditions, each run on every model")


class BNSearch(_Strict):
    """A BN-search config (``make bn-search``): the fewest BN sites with which a network trains."""

    name: str = Field(description="results go to results/<name>/")
    description: str = Field("", description="what it searches, shown in the book")
    model: str = Field(description="resnet<depth> or vgg16")
    dataset: Literal["cifar10", "cifar100"] = Field("cifar10", description="the training set")
    training: dict[str, Any] = Field({}, description="the short budget: a preset and explicit training parameters")
    confirm: dict[str, Any] = Field({}, description="training parameters of the full budget that confirms the minimum")
    probes: int = Field(2, ge=0, description="trials above the minimum that check monotonicity")
    greedy: bool = Field(True, description="also drop named sites one at a time from the minimum")
    upper: int | None = Field(None, ge=1, description="the K known to train (None: every site)")


#: each kind of config: (schema, where its files live, the command that runs it)
CONFIGS = {
    "study": (Study, "studies/<name>.yaml", "make results STUDY=<name>"),
    "device": (Device, "studies/device/<name>.yaml", "make device"),
    "pretrained": (Pretrained, "studies/pretrained/<name>.yaml", "make pretrained"),
    "mechanism": (Mechanism, "studies/mechanism/<name>.yaml", "make mechanism"),
    "BN-search": (BNSearch, "studies/bnsearch/<name>.yaml", "make bn-search"),
}

#: the keys of a study's ``training:`` section: a preset, and every training parameter
TRAINING_KEYS = ("preset", *DEFAULTS, *OPTIONAL)


def _nearest(key: str, valid) -> str:
    close = difflib.get_close_matches(str(key), [str(v) for v in valid], n=1, cutoff=0.5)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _fields(model: type[BaseModel], path: tuple) -> list[str]:
    """The valid keys at ``path`` (a location in the config) of the schema ``model``."""
    for part in path:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        candidates = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)]
        nested = [a for a in candidates if issubclass(a, BaseModel)]
        if not nested:
            return []
        model = nested[0]
    return list(model.model_fields)


def check(schema: type[BaseModel], config, source: str) -> None:
    """Refuse (ValueError naming ``source``, each culprit key and its fix) a config that does not
    fit ``schema``: an unknown key anywhere (with the nearest valid key), a value of the wrong
    type or out of range, a missing required key."""
    if not isinstance(config, dict):
        raise ValueError(f"{source}: a config is a mapping of keys to values, got {type(config).__name__}; "
                         f"see the book's config reference")
    try:
        schema.model_validate(config)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            where = ".".join(str(p) for p in item["loc"])
            if item["type"] == "extra_forbidden":
                key = item["loc"][-1]
                valid = _fields(schema, tuple(p for p in item["loc"][:-1] if isinstance(p, str)))
                problems.append(f"unknown key `{where}`{_nearest(key, valid)}; valid here: {', '.join(valid)}")
            elif item["type"] == "missing":
                problems.append(f"`{where}` is missing")
            else:
                problems.append(f"`{where}`: {item['msg']} (got {item.get('input')!r})")
        raise ValueError(f"{source}: " + "; ".join(problems)) from None


def check_training(training: dict | None, source: str, where: str = "training", preset_allowed: bool = True) -> None:
    """Refuse an unknown training parameter (or preset) in a config's ``where:`` section."""
    training = training or {}
    valid = TRAINING_KEYS if preset_allowed else TRAINING_KEYS[1:]
    for key in training:
        if key not in valid:
            raise ValueError(f"{source}: unknown training parameter `{where}.{key}`{_nearest(key, valid)}; "
                             f"valid: {', '.join(valid)}")
    if training.get("preset") and training["preset"] not in PRESETS:
        raise ValueError(f"{source}: unknown preset `{training['preset']}`{_nearest(training['preset'], PRESETS)}; "
                         f"choose one of {', '.join(PRESETS)}")


def check_study(config: dict, source: str = "the study config") -> None:
    """Refuse (ValueError naming ``source``, the key and the fix) an unknown key anywhere in a
    study config, a value of the wrong type, a missing required key, an unknown training
    parameter or preset."""
    check(Study, config, source)
    check_training(config.get("training"), source)


def _type_name(annotation) -> str:
    text = str(annotation)
    if text.startswith("<class '"):
        text = text[len("<class '"):-2]
    text = text.replace("typing.", "").replace("analognoise.schema.", "")
    if text.startswith("Optional[") and text.endswith("]"):
        text = text[len("Optional["):-1] + " | None"
    return text


def _training_meanings() -> dict[str, str]:
    """Each training parameter's comment in the train notebook's parameters cell (where a user
    sets them by hand), so the reference says what the notebook says."""
    import json

    from .paths import resolve

    notebook = json.loads(resolve("notebooks/steps/train.ipynb").read_text())
    cell = next(c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    meanings = {}
    for line in "".join(cell["source"]).splitlines():
        if "=" in line and "#" in line and not line.startswith((" ", "#")):
            meanings[line.split("=")[0].strip()] = line.split("#", 1)[1].strip()
    return meanings


def reference(kind: str = "study") -> list[dict]:
    """Every key of one kind of config (:data:`CONFIGS`): ``key`` (dotted), ``type``,
    ``default`` ("required" where there is none) and ``meaning``, from the schema itself (and,
    for a study's training parameters, the library's defaults with the train notebook's
    comments)."""
    rows = []

    def walk(model: type[BaseModel], prefix: str):
        for name, field in model.model_fields.items():
            nested = [a for a in getattr(field.annotation, "__args__", (field.annotation,)) if isinstance(a, type)
                      and issubclass(a, BaseModel)]
            default = ("required" if field.is_required() else
                       "see below" if isinstance(field.default, BaseModel) else repr(field.default))
            rows.append(dict(key=prefix + name, type=_type_name(field.annotation), default=default,
                             meaning=field.description or ""))
            if nested:
                walk(nested[0], f"{prefix}{name}.")

    walk(CONFIGS[kind][0], "")
    if kind != "study":
        return rows
    meanings = _training_meanings()
    rows.append(dict(key="training.preset", type="str", default="None",
                     meaning=f"a named recipe ({', '.join(PRESETS)}); explicit values beside it override it"))
    rows += [dict(key=f"training.{k}", type=type(v).__name__ if v is not None else "optional", default=repr(v),
                  meaning=meanings.get(k, "training parameter (analognoise.params)"))
             for k, v in {**DEFAULTS, **OPTIONAL}.items()]
    return rows


def reference_markdown() -> str:
    """The book's config reference page (``book/config_reference.md``), made from :func:`reference`
    for every kind of config."""
    lines = ["# Config reference", "",
             "Every key each kind of config may have, generated from the schemas in `analognoise.schema` "
             "(`python workflow/scripts/config_reference.py` writes this page; a test checks that it is current). "
             "A key not listed here is refused before any compute, naming the file, the key and the nearest valid "
             "key; so is a value of the wrong type or range.", ""]
    for kind, (schema, where, command) in CONFIGS.items():
        doc = (schema.__doc__ or "").strip().split("\n")[0].replace("``", "`")
        lines += [f"## {kind[0].upper() + kind[1:]} configs", "", f"`{where}`: {doc[0].lower() + doc[1:]}", "",
                  "| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        for row in reference(kind):
            cells = [f"`{row['key']}`", row["type"], row["default"], row["meaning"]]
            lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("<", "&lt;") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)
