"""The paper's design method, automated: the fewest BN sites with which a network trains, by
bisection over ``first:K`` and then by dropping named sites one at a time.

A *trial* is a normal training run (run id, resumable, recorded): the search asks a trainer for
the run of each placement it needs, so a rerun finds the finished trials and trains nothing
again. A trial *converges* under one documented rule (:func:`converges`): clean test accuracy
at least :data:`TRAINED_MULTIPLE_OF_CHANCE` times chance after the budget, and a training loss
that fell by at least :data:`MIN_LOSS_DROP` of its first epoch's value.

Why bisection is sound, and where it may not be: adding BN at the front of a network makes the
early activations well scaled, which is what lets an unnormalised deep network start training,
so trainability is expected to be monotone in K for ``first:K``. Nothing guarantees it (an
extra BN layer could change the effective learning rate past what the recipe tolerates), and
the points bisection visits can never contradict it, so the search also trains ``probes``
untested K between the minimum and every site, and reports any pair of tested K where a
smaller K converged and a larger one did not (``violations``): the answer holds only where
there is none.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from .analysis.tables import CHANCE, TRAINED_MULTIPLE_OF_CHANCE
from .params import bn_sites, make_params, run_id

#: a trial converges if its clean accuracy is at least TRAINED_MULTIPLE_OF_CHANCE times chance
#: (the rule the analysis uses for "trained") and its training loss fell by at least this
#: fraction of the first epoch's
MIN_LOSS_DROP = 0.1


@dataclass(frozen=True)
class Trial:
    """One trained placement: its run id, clean test accuracy (fraction), training loss after
    the first and the last epoch, and whether it converged."""

    placement: object
    run_id: str
    clean_accuracy: float
    first_loss: float
    last_loss: float
    converged: bool


def converges(clean_accuracy: float, losses, dataset: str) -> bool:
    """The convergence rule (see the module docstring) for a run's clean accuracy and its
    per-epoch training losses (first to last)."""
    losses = list(losses)
    fell = len(losses) >= 2 and losses[-1] <= (1 - MIN_LOSS_DROP) * losses[0]
    return clean_accuracy >= TRAINED_MULTIPLE_OF_CHANCE * CHANCE[dataset] and fell


def train_trial(params: dict, runs_dir=None, data_dir=None) -> Trial:
    """Train (or find) the run for ``params`` with :func:`analognoise.training.train_run` and
    judge it; a run that diverges (non-finite loss) did not converge (accuracy and last loss NaN)."""
    from . import runs, training

    try:
        run_dir = training.train_run(params, runs_dir or runs.RUNS_DIR, data_dir)
    except FloatingPointError:  # diverged (a non-finite loss): it did not converge
        partial = runs.partial_dir(run_id(params), runs_dir or runs.RUNS_DIR)
        losses = pd.read_csv(partial / runs.HISTORY)["loss"].tolist() if (partial / runs.HISTORY).is_file() else []
        return Trial(params["bn"], run_id(params), float("nan"), losses[0] if losses else float("nan"),
                     float("nan"), False)
    record = runs.read_record(run_dir)
    losses = pd.read_csv(run_dir / runs.HISTORY)["loss"].tolist()
    return Trial(params["bn"], record["run_id"], record["test_accuracy"], losses[0], losses[-1],
                 converges(record["test_accuracy"], losses, params["dataset"]))


def with_bn(params: dict, bn) -> dict:
    """``params`` with the BN placement ``bn``, normalised as every run's (same run id)."""
    return make_params(**{**params, "bn": bn})


@dataclass
class Search:
    """A search's outcome: ``minimum`` (the smallest K of ``first:K`` that converged, or the
    smallest set of sites for :func:`fewest_sites`), every ``trial`` made, and ``violations``
    (pairs (K that converged, larger K that did not))."""

    minimum: object
    trials: list[Trial] = field(default_factory=list)
    violations: list[tuple[int, int]] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([t.__dict__ for t in self.trials])


def minimum_first_k(params: dict, trial: Callable[[dict], Trial] = train_trial, probes: int = 2,
                    upper: int | None = None) -> Search:
    """The smallest K for which ``first:K`` converges, by bisection between K = 0 and ``upper``
    (default: every site), then ``probes`` untested K above it, evenly spaced, and BN at every
    site, as a check of monotonicity; ``params`` are the training parameters (their ``bn`` is
    replaced per trial). ``upper`` < every site brackets the bisection where the recipe does
    not train the network with BN everywhere (reported as a violation). ValueError, before any
    bisection, if the network does not converge with BN on the first ``upper`` sites."""
    sites = bn_sites(params["arch"], params["depth"], params.get("shortcut_bn", True))
    upper = len(sites) if upper is None else upper
    if not 0 < upper <= len(sites):
        raise ValueError(f"upper must be a number of BN sites in 1..{len(sites)}, got {upper}")
    done: dict[int, Trial] = {}

    def judged(k: int) -> Trial:
        if k not in done:
            done[k] = trial(with_bn(params, f"first:{k}"))
        return done[k]

    if not judged(upper).converged:
        t = done[upper]
        everywhere = "even with BN at all" if upper == len(sites) else "with BN on the first"
        raise ValueError(f"{t.run_id} does not train {everywhere} {upper} sites (clean accuracy "
                         f"{t.clean_accuracy:.3f}, loss {t.first_loss:.3f} -> {t.last_loss:.3f}): change the "
                         "recipe or the budget before searching (or `upper:` the K known to train)")
    low, high = -1, upper  # low: largest K known not to converge; high: smallest known to converge
    if judged(0).converged:
        high = 0
    else:
        low = 0
    while high - low > 1:
        middle = (low + high) // 2
        if judged(middle).converged:
            high = middle
        else:
            low = middle
    untested = [k for k in range(high + 1, len(sites)) if k not in done]
    for i in range(1, probes + 1):
        if untested:
            judged(untested[min(len(untested) - 1, round(i * len(untested) / (probes + 1)))])
    judged(len(sites))
    tried = sorted(done.items())
    violations = [(a, b) for a, ta in tried for b, tb in tried if a < b and ta.converged and not tb.converged]
    return Search(high, [t for _, t in tried], violations)


def fewest_sites(params: dict, start: list[str], trial: Callable[[dict], Trial] = train_trial) -> Search:
    """Greedy by site: from the sites ``start`` (e.g. those of the minimum ``first:K``), drop
    each site in turn, last first, and keep it dropped if the network still converges. The
    result is a set from which no single site can be removed (a local minimum, not
    necessarily the smallest set overall)."""
    kept = list(start)
    trials = []
    for site in reversed(list(start)):
        candidate = [s for s in kept if s != site]
        result = trial(with_bn(params, candidate if candidate else "none"))
        trials.append(result)
        if result.converged:
            kept = candidate
    return Search(kept, trials)


def load_search(config_file) -> dict:
    """A search config (``studies/bnsearch/<name>.yaml``): ``name``, ``description``, ``model``
    (``resnet<depth>`` or ``vgg16``), ``dataset``, ``training`` (the short budget: a preset and
    overrides), ``confirm`` (overrides for the full budget on which the minimum is confirmed),
    ``probes``, ``greedy`` (also drop named sites) and ``upper`` (see :func:`minimum_first_k`).
    Checked before any training; adds ``params`` (the short budget's parameters) and
    ``confirm_params``."""
    import yaml

    from .paths import resolve
    from .schema import BNSearch, check, check_training
    from .studies import parse_model

    config = yaml.safe_load(resolve(config_file).read_text())
    check(BNSearch, config, str(config_file))
    check_training(config.get("training"), str(config_file))
    check_training(config.get("confirm"), str(config_file), "confirm", preset_allowed=False)
    training = dict(config.get("training") or {})
    preset = training.pop("preset", None)
    config["params"] = make_params(preset, dataset=config.get("dataset", "cifar10"),
                                   **parse_model(config["model"]), **training)
    config["confirm_params"] = make_params(**{**config["params"], **(config.get("confirm") or {})})
    config.setdefault("probes", 2)
    config.setdefault("greedy", True)
    config.setdefault("upper", None)
    return config


def run_search(config_file, trial: Callable[[dict], Trial] = train_trial, dest=None):
    """Run a search config: the minimum ``first:K`` on the short budget, the named sites
    greedy from it (if ``greedy``), and the minimum confirmed on the full budget (with the
    next smaller K, which must still fail there). Writes ``results/<name>/`` (``trials.csv``:
    every trial with its stage; ``search.yaml``: the answers) atomically; returns it."""
    import yaml

    from .paths import RESULTS_DIR, resolve
    from .runs import atomic_path

    config = load_search(config_file)
    first = minimum_first_k(config["params"], trial, config["probes"], config["upper"])
    frames = [first.table().assign(stage="bisection")]
    answer = dict(model=config["model"], dataset=config["params"]["dataset"], sites=len(bn_sites(
        config["params"]["arch"], config["params"]["depth"], config["params"].get("shortcut_bn", True))),
        upper=config["upper"], minimum_first_k=first.minimum, violations=[list(v) for v in first.violations])
    start = bn_sites(config["params"]["arch"], config["params"]["depth"],
                     config["params"].get("shortcut_bn", True))[:first.minimum]
    if config["greedy"] and first.minimum > 0:
        greedy = fewest_sites(config["params"], start, trial)
        frames.append(greedy.table().assign(stage="greedy"))
        answer["fewest_sites"] = list(greedy.minimum)
    confirm = [trial(with_bn(config["confirm_params"], f"first:{k}")) for k in (first.minimum, first.minimum - 1) if k >= 0]
    frames.append(pd.DataFrame([t.__dict__ for t in confirm]).assign(stage="confirm"))
    answer["confirmed"] = bool(confirm[0].converged and (len(confirm) == 1 or not confirm[1].converged))
    dest = resolve(dest or f"{RESULTS_DIR}/{config['name']}")
    with atomic_path(dest, directory=True) as folder:
        table = pd.concat(frames, ignore_index=True)
        table["placement"] = table.placement.map(str)
        table.to_csv(folder / "trials.csv", index=False)
        (folder / "search.yaml").write_text(yaml.safe_dump(answer, sort_keys=False))
    return dest
