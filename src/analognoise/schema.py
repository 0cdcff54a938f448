"""The study config's schema, written once with pydantic: every key a study config
(``studies/<name>.yaml``) may have, its type, default and meaning. A key that is not in the
schema is refused naming the file, the key and the nearest valid key ("did you mean
`noise`?"), before any compute; the values themselves are then checked by
:func:`analognoise.studies.expand` (depths, placements, noise levels). :func:`reference`
lists every key for the book's reference page, from the same schema, so the docs cannot drift
from the code.
"""
from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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


#: the keys of a study's ``training:`` section: a preset, and every training parameter
TRAINING_KEYS = ("preset", *DEFAULTS, *OPTIONAL)


def refuse_unknown_keys(config: dict, valid, source: str, where: str = "") -> None:
    """ValueError naming ``source``, the first key of ``config`` not in ``valid``, the nearest
    valid key and every valid one (for the configs checked by hand: device, mechanism,
    pretrained models)."""
    for key in config:
        if key not in valid:
            raise ValueError(f"{source}: unknown key `{where}{key}`{_nearest(key, valid)}; valid here: {', '.join(valid)}")


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


def check_study(config: dict, source: str = "the study config") -> None:
    """Refuse (ValueError naming ``source``, the key and the fix) an unknown key anywhere in a
    study config, a value of the wrong type, a missing required key, an unknown training
    parameter or preset."""
    try:
        Study.model_validate(config)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            where = ".".join(str(p) for p in item["loc"])
            if item["type"] == "extra_forbidden":
                key = item["loc"][-1]
                valid = _fields(Study, tuple(p for p in item["loc"][:-1] if isinstance(p, str)))
                problems.append(f"unknown key `{where}`{_nearest(key, valid)}; valid here: {', '.join(valid)}")
            elif item["type"] == "missing":
                problems.append(f"`{where}` is missing")
            else:
                problems.append(f"`{where}`: {item['msg']} (got {item.get('input')!r})")
        raise ValueError(f"{source}: " + "; ".join(problems)) from None
    training = config.get("training") or {}
    for key in training:
        if key not in TRAINING_KEYS:
            raise ValueError(f"{source}: unknown training parameter `training.{key}`{_nearest(key, TRAINING_KEYS)}; "
                             f"valid: {', '.join(TRAINING_KEYS)}")
    if training.get("preset") and training["preset"] not in PRESETS:
        raise ValueError(f"{source}: unknown preset `{training['preset']}`{_nearest(training['preset'], PRESETS)}; "
                         f"choose one of {', '.join(PRESETS)}")


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


def reference() -> list[dict]:
    """Every key of a study config: ``key`` (dotted), ``type``, ``default`` ("required" where
    there is none) and ``meaning``, from the schema itself (and, for the training parameters,
    the library's defaults with the train notebook's comments)."""
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

    walk(Study, "")
    meanings = _training_meanings()
    rows.append(dict(key="training.preset", type="str", default="None",
                     meaning=f"a named recipe ({', '.join(PRESETS)}); explicit values beside it override it"))
    rows += [dict(key=f"training.{k}", type=type(v).__name__ if v is not None else "optional", default=repr(v),
                  meaning=meanings.get(k, "training parameter (analognoise.params)"))
             for k, v in {**DEFAULTS, **OPTIONAL}.items()]
    return rows


def reference_markdown() -> str:
    """The book's config reference page (``book/config_reference.md``), made from :func:`reference`."""
    lines = ["# Study config reference", "",
             "Every key a study config (`studies/<name>.yaml`) may have, generated from the schema in "
             "`analognoise.schema` (`python workflow/scripts/config_reference.py` writes this page; a test "
             "checks that it is current). A key not listed here is refused, naming the nearest valid key.", "",
             "| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for row in reference():
        cells = [f"`{row['key']}`", row["type"], row["default"], row["meaning"]]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("<", "&lt;") for c in cells) + " |")
    return "\n".join(lines) + "\n"
