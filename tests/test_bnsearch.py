"""The fewest BN sites that train: placements of K sites, the convergence rule, bisection over
first:K (with its monotonicity check) and greedy dropping of sites, on a stand-in trainer."""
import pandas as pd
import pytest

from analognoise import bnsearch
from analognoise.params import bn_sites, make_params, resolve_bn, run_id

PARAMS = make_params(depth=20, epochs=2)
SITES = bn_sites("resnet", 20)


def stand_in(trains_from=None, needs=None, fails_at=()):
    """A trainer whose run converges iff it has BN on the first ``trains_from`` sites (or on
    every site of ``needs``), except for K in ``fails_at``; it counts its calls."""
    calls = []

    def trial(params):
        placement = params["bn"]
        chosen = resolve_bn(placement, "resnet", 20)
        if needs is not None:
            ok = set(needs) <= chosen
        else:
            k = len(chosen)  # first:K has K sites ("none" and "all" are first:0 and first:<all>, canonically)
            ok = k >= trains_from and k not in fails_at
        calls.append(placement)
        return bnsearch.Trial(placement, run_id(params), 0.8 if ok else 0.1, 2.3, 1.0 if ok else 2.3, ok)

    trial.calls = calls
    return trial


def test_placements_of_k_sites():
    assert resolve_bn("last:2", "resnet", 20) == {SITES[-2], SITES[-1]}
    assert resolve_bn("spread:3", "resnet", 20) == {SITES[0], SITES[(len(SITES) - 1) // 2], SITES[-1]}
    assert resolve_bn("spread:1", "resnet", 20) == {SITES[(len(SITES) - 1) // 2]}
    assert len(resolve_bn(f"spread:{len(SITES)}", "resnet", 20)) == len(SITES)
    assert resolve_bn("last:0", "resnet", 20) == frozenset()
    with pytest.raises(ValueError, match="'last:K' must be an integer in 0..21"):
        resolve_bn("last:99", "resnet", 20)
    assert run_id({**PARAMS, "bn": "last:3"}) != run_id({**PARAMS, "bn": "first:3"})


def test_the_convergence_rule():
    assert bnsearch.converges(0.31, [2.3, 1.9], "cifar10")
    assert not bnsearch.converges(0.29, [2.3, 1.5], "cifar10"), "below 3x chance"
    assert not bnsearch.converges(0.5, [2.3, 2.25], "cifar10"), "the loss did not fall"
    assert not bnsearch.converges(0.5, [2.3], "cifar10"), "one epoch shows no fall"


@pytest.mark.parametrize("minimum", [0, 1, 5, 13, len(SITES)])
def test_bisection_finds_the_minimum_in_few_trials(minimum):
    trial = stand_in(trains_from=minimum)
    search = bnsearch.minimum_first_k(PARAMS, trial)
    assert search.minimum == minimum and not search.violations
    assert len(trial.calls) == len(set(trial.calls)) <= 2 + 5 + 2, "each K once: ends, log2(21) steps, 2 probes"
    assert set(search.table().columns) >= {"placement", "run_id", "clean_accuracy", "converged"}


def test_a_network_that_never_trains_is_refused_before_bisection():
    trial = stand_in(trains_from=99)
    with pytest.raises(ValueError, match="does not train even with BN at all 21 sites"):
        bnsearch.minimum_first_k(PARAMS, trial)
    assert trial.calls == ["all"]  # first:21, canonically


def test_a_non_monotone_answer_is_reported():
    """Bisection alone never sees a contradiction; the probes above the minimum can."""
    clean = bnsearch.minimum_first_k(PARAMS, stand_in(trains_from=3), probes=3)
    bisected = {t.placement for t in bnsearch.minimum_first_k(PARAMS, stand_in(trains_from=3), probes=0).trials}
    probes = {t.placement for t in clean.trials} - bisected
    assert not clean.violations and len(probes) == 3
    failing = {int(p.split(":")[1]) for p in probes}
    search = bnsearch.minimum_first_k(PARAMS, stand_in(trains_from=3, fails_at=failing), probes=3)
    assert search.violations and all(a < b for a, b in search.violations)


def test_an_upper_bracket_searches_below_a_k_that_trains_and_reports_bn_everywhere():
    """VGG16 with the fast recipe: BN on the first 10 sites trains, BN on all 15 does not; the
    search brackets at ``upper`` and still trains BN everywhere to report the violation."""
    trial = stand_in(trains_from=4, fails_at={len(SITES)})
    with pytest.raises(ValueError, match="even with BN at all"):
        bnsearch.minimum_first_k(PARAMS, trial)
    search = bnsearch.minimum_first_k(PARAMS, stand_in(trains_from=4, fails_at={len(SITES)}), upper=10)
    assert search.minimum == 4 and (4, len(SITES)) in search.violations
    assert "all" in {t.placement for t in search.trials}  # first:<every site>, canonically
    with pytest.raises(ValueError, match="with BN on the first 3 sites"):
        bnsearch.minimum_first_k(PARAMS, stand_in(trains_from=4), upper=3)
    with pytest.raises(ValueError, match="upper must be"):
        bnsearch.minimum_first_k(PARAMS, stand_in(trains_from=4), upper=len(SITES) + 1)


def test_greedy_dropping_keeps_only_the_sites_that_matter():
    needed = [SITES[1], SITES[4]]
    search = bnsearch.fewest_sites(PARAMS, SITES[:6], stand_in(needs=needed))
    assert search.minimum == needed and len(search.trials) == 6


def test_a_search_config_runs_end_to_end_and_confirms_on_the_full_budget(tmp_path):
    import yaml

    config = tmp_path / "search.yaml"
    config.write_text(yaml.safe_dump(dict(name="tiny-search", description="test", model="resnet20", dataset="cifar10",
                                          training=dict(epochs=2, train_subset=1000), confirm=dict(epochs=5),
                                          probes=1, greedy=True)))
    budgets = []
    inner = stand_in(needs=[SITES[1], SITES[3]])

    def trial(params):
        budgets.append(params["epochs"])
        if isinstance(params["bn"], str) and params["bn"].startswith("first:"):
            k = int(params["bn"].split(":")[1])
            ok = k >= 4
            return bnsearch.Trial(params["bn"], run_id(params), 0.8 if ok else 0.1, 2.3, 1.0 if ok else 2.3, ok)
        return inner(params)

    dest = bnsearch.run_search(config, trial, tmp_path / "out")
    answer = yaml.safe_load((dest / "search.yaml").read_text())
    assert answer["minimum_first_k"] == 4 and answer["fewest_sites"] == [SITES[1], SITES[3]] and answer["confirmed"]
    trials = pd.read_csv(dest / "trials.csv")
    assert set(trials.stage) == {"bisection", "greedy", "confirm"} and budgets[-2:] == [5, 5]
    with pytest.raises(ValueError, match="search.yaml: unknown key `epochs`"):
        config.write_text(yaml.safe_dump(dict(name="x", model="resnet20", epochs=3)))
        bnsearch.load_search(config)


def test_the_shipped_search_configs_load():
    from pathlib import Path

    for path in sorted((Path(__file__).resolve().parents[1] / "studies" / "bnsearch").glob("*.yaml")):
        config = bnsearch.load_search(path)
        assert config["confirm_params"]["epochs"] >= config["params"]["epochs"], path.name


def test_a_trial_that_diverges_did_not_converge(tmp_path, data_root):
    """A real (tiny) trial whose loss turns non-finite is judged, not a crash of the search."""
    p = make_params(depth=8, epochs=2, batch_size=32, train_subset=64, learning_rate=1e6,
                    lr_schedule="constant", bn="none")
    trial = bnsearch.train_trial(p, tmp_path, data_root)
    assert not trial.converged and trial.run_id == run_id(p)
    assert pd.isna(trial.clean_accuracy) and pd.isna(trial.last_loss)
