"""Exported study results: the ablation's noise runs, export to a folder, and reading it back."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from analognoise import analysis, studies
from analognoise.params import make_params, run_id

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks" / "chapters"
STUDY = """
name: tiny
description: two fake runs
grid: {dataset: [cifar10], model: [resnet8], bn: [all, none], seed: [0]}
training: {epochs: 2, train_subset: 100}
noise: {etas: [0.0, 0.1], repeats: 2, test_subset: 50}
ablation: {targets: [kernels, kernels+biases, trainable, all, folded], repeats: 1}
"""


def fake_run(runs, cell, rng):
    """A finished run as train_run and inject_noise leave it: params.yaml, history.csv, and
    one noise table per noise run the cell needs."""
    folder = runs / cell.run_id
    folder.mkdir(parents=True)
    record = dict(run_id=cell.run_id, params=cell.params, model=cell.model, parameters=1234,
                  bn_layers=7 if cell.params["bn"] == "all" else 0, test_accuracy=0.5,
                  train_images=100, test_images=10000, data_source="fixture",
                  train_seconds_this_session=3.0, keras="3.x", backend="tensorflow")
    (folder / "params.yaml").write_text(yaml.safe_dump(record))
    pd.DataFrame(dict(epoch=[1, 2], learning_rate=1e-3, accuracy=[0.3, 0.4], loss=[2.0, 1.5],
                      seconds=1.0)).to_csv(folder / "history.csv", index=False)
    for targets, name in [("trainable", "noise.csv"), *[(t, studies.noise_file(t)) for t in cell.ablation_runs]]:
        accuracy = [0.5, 0.5, *rng.uniform(0.2, 0.4, 2)]
        pd.DataFrame(dict(run_id=cell.run_id, eta=[0.0, 0.0, 0.1, 0.1], repeat=[0, 1, 0, 1],
                          accuracy=accuracy, nonfinite_fraction=0.0, clean_accuracy=0.5,
                          normalized_accuracy=np.array(accuracy) / 0.5, targets=targets,
                          scale="tensor", seed=0, test_images=50)).to_csv(folder / name, index=False)


def fake_study(folder, monkeypatch, config: dict | str) -> dict:
    """A study (``config``: a dict, or YAML text written verbatim, into ``folder``) whose every
    run is finished in ``folder/runs`` (:func:`fake_run`), where the analysis and the run
    directory look; returns the loaded config."""
    from analognoise import runs as run_dirs

    text = config if isinstance(config, str) else yaml.safe_dump(config)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{yaml.safe_load(text)['name']}.yaml"
    path.write_text(text)
    monkeypatch.setattr(analysis.store, "RUNS_DIR", str(folder / "runs"))
    monkeypatch.setattr(run_dirs, "RUNS_DIR", str(folder / "runs"))
    rng = np.random.default_rng(0)
    for cell in studies.expand(studies.load_study(path)):
        fake_run(folder / "runs", cell, rng)
    return studies.load_study(path)


@pytest.fixture
def tiny_study(tmp_path, monkeypatch):
    return fake_study(tmp_path, monkeypatch, STUDY)


def test_ablation_runs_skip_targets_that_hit_the_same_tensors():
    config = yaml.safe_load(STUDY)
    bn, no_bn = studies.expand(config)
    assert bn.ablation_runs == ["kernels", "kernels+biases", "all", "folded"]
    assert no_bn.ablation_runs == ["kernels"]  # without BN: kernels+biases = trainable = all = folded
    parameters = studies.noise_parameters(bn, "data/runs", targets="folded")
    assert parameters["targets"] == "folded" and parameters["output"] == "noise-folded.csv"
    assert parameters["repeats"] == 1 and studies.noise_parameters(bn)["repeats"] == 2  # fewer draws
    assert "output" not in studies.noise_parameters(bn)  # the main grid writes noise.csv
    with pytest.raises(ValueError, match="ablation must be"):
        studies.expand({**config, "ablation": {"targets": ["weights"]}})
    with pytest.raises(ValueError, match="repeats must be"):
        studies.expand({**config, "ablation": {"targets": ["kernels"], "repeats": 0}})


def test_all_targets_and_a_missing_noise_run(tiny_study, tmp_path):
    runs, noise = analysis.load_results(tiny_study, all_targets=True)
    assert noise.groupby("variant").targets.nunique().to_dict() == {"BN": 5, "no BN": 5}
    no_bn = noise[noise.variant == "no BN"]
    same = no_bn[no_bn.targets == "all"].accuracy.to_numpy()
    assert (same == no_bn[no_bn.targets == "trainable"].accuracy.to_numpy()).all()
    assert set(analysis.load_results(tiny_study)[1].targets) == {"trainable"}
    (tmp_path / "runs" / runs.run_id[0] / "noise-all.csv").unlink()
    with pytest.raises(FileNotFoundError, match="noise-all.csv"):
        analysis.load_results(tiny_study, all_targets=True)
    assert not (tmp_path / "results").exists()
    with pytest.raises(FileNotFoundError, match="noise-all.csv"):
        analysis.export_results(tiny_study, tmp_path / "results" / "tiny")
    assert not (tmp_path / "results").exists()  # nothing half-written


def test_export_then_read_back_gives_the_same_tables(tiny_study, tmp_path):
    dest = analysis.export_results(tiny_study, tmp_path / "results" / "tiny")
    assert sorted(p.name for p in dest.iterdir()) == [
        "histories.csv", "noise.csv", "provenance.yaml", "runs.csv", "study.yaml"]
    assert (dest / "study.yaml").read_text() == STUDY
    exported = studies.load_study(dest)
    assert exported["results_dir"] == str(dest)
    for all_targets in (False, True):
        runs, noise = analysis.load_results(tiny_study, all_targets)
        runs_back, noise_back = analysis.load_results(exported, all_targets)
        pd.testing.assert_frame_equal(noise, noise_back, check_dtype=False)
        pd.testing.assert_frame_equal(runs, runs_back, check_dtype=False)
    pd.testing.assert_frame_equal(analysis.load_histories(tiny_study), analysis.load_histories(exported),
                                  check_dtype=False)
    # only what was computed is stored: the no-BN run's identical targets are not repeated
    assert len(pd.read_csv(dest / "noise.csv")) == 4 * (1 + 4) + 4 * (1 + 1)
    with pytest.raises(ValueError, match="already an exported"):
        analysis.export_results(exported)


def test_training_time_counts_every_epoch_of_a_resumed_run(tiny_study, tmp_path):
    """A run resumed in a later session records only that session's seconds; the study's
    training time is the sum of every epoch in its history (fake runs: 2 epochs of 1 s, 3 s
    "this session")."""
    runs, _ = analysis.load_results(tiny_study)
    assert runs.train_seconds.tolist() == [2.0, 2.0]
    dest = analysis.export_results(tiny_study, tmp_path / "results" / "tiny")
    assert yaml.safe_load((dest / "provenance.yaml").read_text())["train_seconds_total"] == 4.0


def test_a_study_under_way_exports_its_finished_runs(tiny_study, tmp_path):
    bn, no_bn = studies.expand(tiny_study)
    (tmp_path / "runs" / no_bn.run_id / "noise.csv").unlink()  # this run's noise is not made yet
    assert [c.run_id for c in analysis.finished_cells(tiny_study)] == [bn.run_id]
    with pytest.raises(FileNotFoundError):
        analysis.export_results(tiny_study, tmp_path / "all")
    dest = analysis.export_results(tiny_study, tmp_path / "results" / "tiny", finished_only=True)
    provenance = yaml.safe_load((dest / "provenance.yaml").read_text())
    assert provenance["runs_missing"] == [no_bn.run_id] and provenance["regenerate"] == "make commit-runs STUDY=tiny"
    exported = studies.load_study(dest)
    runs, noise = analysis.load_results(exported, all_targets=True)
    assert runs.run_id.tolist() == [bn.run_id] and set(noise.run_id) == {bn.run_id}
    assert set(analysis.load_histories(exported).run_id) == {bn.run_id}
    assert "1 of 2 runs have finished" in analysis.describe_study(exported, runs, noise)
    out = tmp_path / "paper_accuracy.ipynb"  # the main chapter shows a study under way
    pytest.importorskip("papermill").execute_notebook(str(NOTEBOOKS / "paper_accuracy.ipynb"), str(out),
                                                      parameters={"study": str(dest)}, progress_bar=False,
                                                      kernel_name="python3")
    assert "still training" in out.read_text() and "Traceback" not in out.read_text()
    for cell in (bn, no_bn):
        for table in (tmp_path / "runs" / cell.run_id).glob("noise*.csv"):
            table.unlink()
    with pytest.raises(ValueError, match="no run has finished"):
        analysis.export_results(tiny_study, tmp_path / "none", finished_only=True)


def test_runs_finished_elsewhere_keep_their_committed_rows(tiny_study, tmp_path):
    """A fresh clone (weights: front commits no weights of the other runs) or a run trained on
    another machine: its run folder is not here, and a new export keeps its committed rows."""
    import shutil

    bn, no_bn = studies.expand(tiny_study)
    dest = analysis.export_results(tiny_study, tmp_path / "results" / "tiny", finished_only=True)
    before = {name: pd.read_csv(dest / f"{name}.csv") for name in ("runs", "histories", "noise")}
    shutil.rmtree(tmp_path / "runs" / no_bn.run_id)
    (tmp_path / "runs" / bn.run_id / "history.csv").write_text("epoch,learning_rate,accuracy,loss,seconds\n1,0.001,0.3,2.0,5.0\n")
    analysis.export_results(tiny_study, dest, finished_only=True)
    provenance = yaml.safe_load((dest / "provenance.yaml").read_text())
    assert provenance["runs_carried"] == [no_bn.run_id] and provenance["runs_missing"] == []
    after = {name: pd.read_csv(dest / f"{name}.csv") for name in before}
    for name, table in after.items():
        assert table.run_id.unique().tolist() == [bn.run_id, no_bn.run_id], name
        kept = table[table.run_id == no_bn.run_id].reset_index(drop=True)
        pd.testing.assert_frame_equal(kept, before[name][before[name].run_id == no_bn.run_id].reset_index(drop=True))
    assert after["histories"].query("run_id == @bn.run_id").seconds.tolist() == [5.0]  # the run here is re-read
    shutil.rmtree(tmp_path / "runs" / bn.run_id)
    with pytest.raises(ValueError, match="no run has finished"):  # nothing here to export: the commit stays
        analysis.export_results(tiny_study, dest, finished_only=True)


def test_a_run_id_is_the_same_from_the_config_and_from_its_parameters():
    bn, _ = studies.expand(yaml.safe_load(STUDY))
    assert bn.run_id == run_id(make_params(arch="resnet", depth=8, bn="all", epochs=2, train_subset=100))


def fake_theory(runs, cell):
    """The three theory tables measure_theory writes (data/runs/<id>/theory/), at epochs 0 and 2."""
    folder = runs / cell.run_id / "theory"
    folder.mkdir()
    pd.DataFrame(dict(epoch=[0, 2], pool=64, c=[18.0, 2.5], full_gradient_norm=[0.4, 0.1], relative_c=[130.0, 250.0],
                      loss=[2.3, 1.5], batch_loss=[2.5, 1.6], gradient_norm=[2.7, 0.9], loss_range=[0.6, 0.2],
                      gradient_change=[3.5, 1.0], beta_smoothness=[31.0, 9.0], run_id=cell.run_id)
                 ).to_csv(folder / "checkpoints.csv", index=False)
    pd.DataFrame(dict(batch_size=[4, 16], batch=0, power=[2.7, 0.7], predicted=[4.3, 1.1], training=False, epoch=2,
                      run_id=cell.run_id)).to_csv(folder / "minibatch.csv", index=False)
    pd.DataFrame(dict(epoch=2, layer=["stem_conv", "dense"], position=[0, 1], gradient_norm=[0.13, 0.2],
                      run_id=cell.run_id)).to_csv(folder / "layers.csv", index=False)


def test_theory_measurements_travel_with_the_exported_results(tiny_study, tmp_path):
    """A study whose runs all have theory measurements exports them (theory-*.csv) and reads
    them back as from the runs; one without them exports none and says so when asked."""
    bn, no_bn = studies.expand(tiny_study)
    fake_theory(tmp_path / "runs", bn)
    dest = analysis.export_results(tiny_study, tmp_path / "results" / "without")
    assert not list(dest.glob("theory-*.csv"))
    with pytest.raises(FileNotFoundError, match="no theory measurements"):
        analysis.load_theory(studies.load_study(dest))
    with pytest.raises(FileNotFoundError, match=no_bn.run_id):
        analysis.load_theory(tiny_study)
    fake_theory(tmp_path / "runs", no_bn)
    dest = analysis.export_results(tiny_study, tmp_path / "results" / "with")
    assert sorted(p.name for p in dest.glob("theory-*.csv")) == [
        "theory-checkpoints.csv", "theory-layers.csv", "theory-minibatch.csv"]
    from_runs, exported = analysis.load_theory(tiny_study), analysis.load_theory(studies.load_study(dest))
    for name in ("checkpoints", "minibatch", "layers"):
        pd.testing.assert_frame_equal(from_runs[name], exported[name], check_dtype=False)
    assert set(exported["checkpoints"].variant) == {"BN", "no BN"}
    out = tmp_path / "learning_rate.ipynb"  # the learning-rate chapter builds from the folder alone
    pytest.importorskip("papermill").execute_notebook(str(NOTEBOOKS / "learning_rate.ipynb"), str(out),
                                                      parameters={"study": str(dest)}, progress_bar=False,
                                                      kernel_name="python3")
    assert "Committed results" in out.read_text() and "Traceback" not in out.read_text()


@pytest.mark.parametrize("chapter", ["reference.ipynb", "ablation.ipynb", "paper_accuracy.ipynb",
                                     "architectures.ipynb"])
def test_chapters_build_from_an_exported_folder_alone(tiny_study, tmp_path, chapter):
    papermill = pytest.importorskip("papermill")
    dest = analysis.export_results(tiny_study, tmp_path / "results" / "tiny")
    out = tmp_path / chapter
    papermill.execute_notebook(str(NOTEBOOKS / chapter), str(out), parameters={"study": str(dest)},
                               progress_bar=False, kernel_name="python3")
    text = out.read_text()
    assert "Committed results" in text and "Traceback" not in text


def test_the_committed_reference_results_are_those_of_its_config():
    folder = studies.resolve("results/cpu-reference")
    if not (folder / "study.yaml").exists():
        pytest.skip("no committed reference results in this checkout")
    assert (folder / "study.yaml").read_text() == studies.study_path("cpu-reference").read_text()
    config = studies.load_study(folder)
    runs, noise = analysis.load_results(config, all_targets=True)
    assert runs.run_id.tolist() == [c.run_id for c in studies.expand(config)]
    assert set(noise.targets) == set(config["ablation"]["targets"])
    draws = noise.groupby(["targets", "run_id", "eta"]).size()
    assert (draws.loc["trainable"] == config["noise"]["repeats"]).all()
    assert (draws >= config["ablation"].get("repeats", config["noise"]["repeats"])).all()


def test_the_readme_headline_is_the_committed_paper_accuracy_study():
    """The README opens with eq. 14 from results/paper-accuracy: its numbers must be what the
    analysis computes from the committed CSVs (each commit of new runs updates the README)."""
    import re

    _, noise = analysis.load_results(studies.load_study(ROOT / "results" / "paper-accuracy"))
    table = analysis.table4(noise)
    rows = re.findall(r"^\| (ResNet-\d+) \| ([\d.]+ ± [\d.]+) \| ([\d.]+ ± [\d.]+) \| ([^|]+) \| "
                      r"([\d.]+) \| ([\d.]+) \|$", (ROOT / "README.md").read_text(), re.M)
    assert len(rows) == 2, "the README's headline rows"
    seeds = noise.groupby("model").seed.nunique()
    for model, bn, no_bn, unit, paper_bn, paper_no_bn in rows:
        assert unit.startswith(f"{seeds[model]} training seeds" if seeds[model] > 1 else "20 noise draws of one model"), \
            "each interval says what it is over"
        assert table.loc[(model, "BN"), ("CIFAR-10", "ours")] == bn
        assert table.loc[(model, "no BN"), ("CIFAR-10", "ours")] == no_bn
        assert float(table.loc[(model, "BN"), ("CIFAR-10", "paper")]) == float(paper_bn)


def test_the_readmes_mechanism_table_is_the_committed_mechanism_study():
    """The README's dead-channel table: its numbers are what the analysis computes from
    results/mechanism (a rerun of `make mechanism` updates the README)."""
    import re

    from analognoise.analysis import mechanism as mech

    results = mech.load_mechanism(ROOT / "results" / "mechanism")
    table = mech.factor_table(results["models"], results["noise"]).set_index("model")
    rows = re.findall(r"^\| (CrossSim ResNet-\d+) \| ([\d.]+) \| ([^|]+) \| ([^|]+) \|$",
                      (ROOT / "README.md").read_text(), re.M)
    assert len(rows) == 4, "the README's mechanism rows"
    for model, dead, kernels, silenced in rows:
        assert table.loc[model, "dead BN channels (%)"] == dead
        assert table.loc[model, "kernels"] == kernels.strip()
        expected = table.loc[model, "kernels, dead silenced"] or "(none to silence)"
        assert expected == silenced.strip()


def test_every_committed_result_in_one_table():
    """analysis.committed_trials gathers every committed study and pretrained model; at_level
    leaves out the models that did not train (at chance they 'keep' everything)."""
    trials = analysis.committed_trials(ROOT / "results")
    assert {"paper-accuracy", "cpu-reference", "crosssim-keras-resnet"} <= set(trials.source)
    assert trials.groupby(["source", "run_id"]).ngroups > 40
    table = analysis.at_level(trials, 0.2)
    assert (table["clean (%)"] >= 30).all() and table["kept (%)"].is_monotonic_decreasing
    everything = analysis.at_level(trials, 0.2, trained_only=False)
    assert len(everything) > len(table) and (everything["clean (%)"] < 30).any()
    seeds = table[(table.source == "paper-accuracy") & (table.model == "ResNet-20") & (table.BN == "all")]
    assert sorted(seeds.seed) == [0, 1, 2], "one row per trained model: the three seeds apart"
