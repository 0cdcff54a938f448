"""The partial-BN trade-off analysis on generated studies with known answers: placements read,
the Pareto front, where-BN-sits comparisons, and BN-count verdicts that can say no."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analognoise import analysis
from analognoise.analysis import partial_bn

ETAS = [0.0, 0.1, 0.2, 0.3]


def fake_study(eq13_by_bn: dict, clean_by_bn: dict, sites: int = 10, repeats: int = 8, seed: int = 0):
    """(runs, noise) of one model (ResNet-20, CIFAR-10) with one run per placement: each noisy
    trial's normalised accuracy is ``eq13_by_bn[bn]`` plus small draw-to-draw noise."""
    rng = np.random.default_rng(seed)
    runs, noise = [], []
    for bn, level in eq13_by_bn.items():
        run_id = f"r-{bn.replace(':', '')}"
        k = sites if bn == "all" else 0 if bn == "none" else int(bn.split(":")[1])
        clean = clean_by_bn[bn]
        runs.append(dict(run_id=run_id, dataset="cifar10", model="ResNet-20", bn=bn, bn_layers=k))
        for eta in ETAS:
            for repeat in range(1 if eta == 0 else repeats):
                normalized = 1.0 if eta == 0 else level + rng.normal(0, 0.005)
                noise.append(dict(run_id=run_id, dataset="cifar10", model="ResNet-20",
                                  variant="BN" if bn == "all" else "no BN" if bn == "none" else "partial BN",
                                  bn=bn, seed=0, eta=eta, repeat=repeat, accuracy=normalized * clean,
                                  clean_accuracy=clean, normalized_accuracy=normalized, test_images=1000,
                                  targets="trainable", scale="tensor", nonfinite_fraction=0.0))
    return pd.DataFrame(runs), pd.DataFrame(noise)


FALLING = {"none": 0.95, "first:2": 0.9, "first:4": 0.85, "first:7": 0.8, "all": 0.7}
RISING_CLEAN = {"none": 0.80, "first:2": 0.83, "first:4": 0.86, "first:7": 0.88, "all": 0.90}


@pytest.mark.parametrize("bn, sites, expected", [
    ("none", 19, ("none", 0)), ("all", 19, ("all", 19)), ("first:4", 19, ("first", 4)),
    ("spread:10", 15, ("spread", 10)), ("['block1_conv1', 'block2_conv1']", 15, ("sites", 2)),
])
def test_placements_are_read_as_where_and_how_many(bn, sites, expected):
    assert partial_bn.placement(bn, sites) == expected


def test_the_table_has_every_run_with_its_intervals_and_the_front():
    runs, noise = fake_study(FALLING, RISING_CLEAN)
    table = analysis.bn_count_table(runs, noise)
    assert table.k.tolist() == [0, 2, 4, 7, 10] and set(table.sites) == {10}
    assert table.a_avr.to_numpy() == pytest.approx(list(FALLING.values()), abs=0.005)
    assert (table.clean_lo < table.clean_accuracy).all() and (table.clean_accuracy < table.clean_hi).all()
    assert (table.a_avr_lo < table.a_avr).all() and table.trained.all()
    assert table.on_front.all()  # each gains clean accuracy and loses robustness: all non-dominated
    worse = noise.run_id == "r-first4"  # lower clean accuracy and lower eq. 14 than first:2
    noise.loc[worse, ["clean_accuracy"]] = 0.82
    noise.loc[worse & (noise.eta > 0), "normalized_accuracy"] = 0.88
    table = analysis.bn_count_table(runs, noise)
    assert table.set_index("bn").on_front.to_dict() == {"none": True, "first:2": True, "first:4": False,
                                                        "first:7": True, "all": True}


def test_a_model_that_did_not_train_is_off_the_front_and_out_of_the_claims():
    clean = {**RISING_CLEAN, "none": 0.11}
    runs, noise = fake_study(FALLING, clean)
    table = analysis.bn_count_table(runs, noise)
    assert not table.set_index("bn").loc["none", "trained"] and not table.set_index("bn").loc["none", "on_front"]
    claims = analysis.bn_count_claims(table, noise).set_index("id")
    assert "fewest BN sites that trained 2" in claims.loc["minimum-bn-most-robust", "evidence"]


def test_the_bn_count_claims_can_say_yes_and_no():
    runs, noise = fake_study(FALLING, RISING_CLEAN)
    claims = analysis.bn_count_claims(analysis.bn_count_table(runs, noise), noise).set_index("id")
    assert claims.verdict.to_dict() == {"bn-count-lowers-robustness": "supported",
                                        "bn-count-raises-clean-accuracy": "supported",
                                        "minimum-bn-most-robust": "supported"}
    rising = dict(zip(FALLING, sorted(FALLING.values())))  # more BN, more robust: the claim is wrong here
    runs, noise = fake_study(rising, {bn: 0.85 for bn in FALLING})
    claims = analysis.bn_count_claims(analysis.bn_count_table(runs, noise), noise).set_index("id")
    assert claims.loc["bn-count-lowers-robustness", "verdict"] == "not supported"
    assert claims.loc["minimum-bn-most-robust", "verdict"] == "not supported"
    assert claims.loc["bn-count-raises-clean-accuracy", "verdict"] == "inconclusive"  # flat: no trend either way


def test_too_few_runs_are_not_testable():
    three = {bn: FALLING[bn] for bn in ("none", "first:4", "all")}
    runs, noise = fake_study(three, RISING_CLEAN)
    claims = analysis.bn_count_claims(analysis.bn_count_table(runs, noise), noise)
    assert set(claims.verdict) == {"not testable in this study"}


def test_where_bn_sits_is_compared_at_equal_k():
    levels = {**FALLING, "last:4": 0.95, "spread:4": 0.85}
    runs, noise = fake_study(levels, {**RISING_CLEAN, "last:4": 0.85, "spread:4": 0.86})
    comparison = analysis.placement_comparison(analysis.bn_count_table(runs, noise), noise).set_index("placement")
    assert comparison.loc["last:4", "difference_pp"] == pytest.approx(10, abs=1)
    assert comparison.loc["last:4", "lo_pp"] > 0 and comparison.loc["last:4", "p_holm"] < 0.05
    assert comparison.loc["spread:4", "lo_pp"] < 0 < comparison.loc["spread:4", "hi_pp"]  # no difference
    assert set(comparison.k) == {4}


def test_the_design_summary_names_the_minimum_the_front_and_the_placement_effects():
    levels = {**FALLING, "last:4": 0.95}
    runs, noise = fake_study(levels, {**RISING_CLEAN, "none": 0.11, "last:4": 0.85})
    table = analysis.bn_count_table(runs, noise)
    text = analysis.design_summary(table, analysis.placement_comparison(table, noise))
    assert "the fewest that trained is K = 2 (`first:2`)" in text
    assert "the most robust placement is `last:4`" in text and "the most accurate `all`" in text
    assert "`last:4` +10" in text and "(1 of 1 differ beyond their interval)" in text
    assert "`none`" not in text.split("On the front")[1]  # the untrained run is on no front


def tradeoff_study(tmp_path, monkeypatch, **settings):
    """A generated trade-off study (ResNet-8, five placements, ``settings`` added to its
    config) with every run finished in ``tmp_path/runs``; returns its config."""
    import yaml
    from test_results import fake_study

    from analognoise import studies
    config = fake_study(tmp_path, monkeypatch, dict(
        name="tradeoff", description="five placements", grid=dict(dataset=["cifar10"], model=["resnet8"],
        bn=["none", "first:2", "first:4", "all", "last:2"], seed=[0]), training=dict(epochs=2, train_subset=100),
        noise=dict(etas=[0.0, 0.1], repeats=2, test_subset=50), **settings))
    for cell in studies.expand(config):
        record_file = tmp_path / "runs" / cell.run_id / "params.yaml"
        record = yaml.safe_load(record_file.read_text())
        bn = cell.params["bn"]
        record["bn_layers"] = {"none": 0, "all": 7}[bn] if bn in ("none", "all") else int(bn.split(":")[1])
        record_file.write_text(yaml.safe_dump(record))
    return config


def test_the_chapter_builds_from_committed_results_alone(tmp_path, monkeypatch):
    """The trade-off study exported as a results folder, and a committed search beside it: the
    chapter runs end to end on them."""
    import yaml
    papermill = pytest.importorskip("papermill")
    dest = analysis.export_results(tradeoff_study(tmp_path, monkeypatch), tmp_path / "results" / "tradeoff")
    search = tmp_path / "results" / "bnsearch-resnet8"
    search.mkdir()
    (search / "search.yaml").write_text(yaml.safe_dump(dict(model="resnet8", dataset="cifar10", sites=7,
                                                            minimum_first_k=2, violations=[], fewest_sites=["a", "b"],
                                                            confirmed=True)))
    pd.DataFrame(dict(placement=["first:2"], stage=["bisection"])).to_csv(search / "trials.csv", index=False)
    out = tmp_path / "partial_bn.ipynb"
    papermill.execute_notebook(str(partial_bn_chapter()), str(out), progress_bar=False, kernel_name="python3",
                               parameters={"study": str(dest), "searches": str(tmp_path / "results" / "bnsearch-*")})
    text = out.read_text()
    assert "Traceback" not in text and "Committed results" in text
    assert "bnsearch-resnet8" in text and "bn-count-lowers-robustness" in text and "the fewest that trained" in text


@pytest.mark.parametrize("weights", ["all", "front", "none"])
def test_a_study_commits_the_weights_its_policy_names(tmp_path, monkeypatch, weights):
    """`weights: front` commits the weights of the runs on their model's Pareto front only (and
    removes those of a run that left it), `none` none; the tidy results of every finished run
    regardless, and the state of a run still training only under `all`."""
    import shutil

    from analognoise import commit, runs, studies

    config = tradeoff_study(tmp_path, monkeypatch, weights=weights)
    training_id = next(c.run_id for c in studies.expand(config) if c.params["bn"] == "last:2")
    shutil.rmtree(tmp_path / "runs" / training_id)
    runs.partial_dir(training_id).mkdir()
    (runs.partial_dir(training_id) / runs.STATE_INFO).write_text('{"epochs_done": 1}')
    untested_id = next(c.run_id for c in studies.expand(config) if c.params["bn"] == "first:4")
    (tmp_path / "runs" / untested_id / "noise.csv").unlink()  # trained, its noise tables still to come

    def export_model(run_dir, dest):  # stands in for the Keras weights
        Path(dest).mkdir(parents=True, exist_ok=True)
        for suffix in (".weights.h5", ".yaml"):
            (Path(dest) / f"{Path(run_dir).name}{suffix}").write_text("stand-in")

    monkeypatch.setattr(runs, "export_model", export_model)
    monkeypatch.setattr(runs, "export_partial", lambda partial, dest, params=None: (Path(dest) / training_id).mkdir(parents=True))
    dest = tmp_path / "results" / "tradeoff"
    (dest / "models").mkdir(parents=True)
    (dest / "models" / "cifar10-resnet8-bnold-00000000.weights.h5").write_text("a run that left the front")
    states = commit.commit_study(config, dest)

    committed = {p.name.removesuffix(".weights.h5") for p in (dest / "models").glob("*.weights.h5")}
    table = analysis.bn_count_table(*analysis.load_results(dest))
    front = set(table.run_id[table.on_front])
    assert len(table) == 3 and 0 < len(front) < 3, "the three runs with noise tables, some off the front"
    assert committed == {"all": {*table.run_id, untested_id, "cifar10-resnet8-bnold-00000000"}, "front": front,
                         "none": set()}[weights]
    records = {p.name.removesuffix(".yaml") for p in (dest / "models").glob("*.yaml")}
    assert records == committed - {"cifar10-resnet8-bnold-00000000"}, "a run's record goes with its weights"
    assert (dest / "partial" / training_id).is_dir() == (weights == "all")
    assert states[training_id] == ("partial (1 epochs)" if weights == "all" else "training (not committed)")
    assert states[untested_id] == ("model" if weights == "all" else
                                   f"weights held back until its noise tables exist (weights: {weights})")
    off_front = sorted(set(table.run_id) - front)[0]
    assert states[off_front] == ("model" if weights == "all" else f"results only (weights: {weights}"
                                 + (", not on the front)" if weights == "front" else ")"))


def partial_bn_chapter():
    return Path(__file__).resolve().parents[1] / "notebooks" / "chapters" / "partial_bn.ipynb"
