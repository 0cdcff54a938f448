"""The cluster path without a scheduler: the SLURM profiles name real rules, and the checks of
`make cluster-test` (jobs accounted, results equal) catch what they are there to catch. The
scheduler itself runs in `make cluster-test` (CI runs it)."""
import importlib.util
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROFILES = sorted((ROOT / "workflow" / "profiles").glob("*/config.yaml"))
RULES = {name for smk in (ROOT / "workflow" / "rules").glob("*.smk")
         for name in re.findall(r"^rule (\w+):", smk.read_text(), re.M)}


def load_cluster_test():
    spec = importlib.util.spec_from_file_location("cluster_test", ROOT / "workflow" / "scripts" / "cluster_test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.parent.name)
def test_every_slurm_profile_names_rules_that_exist(profile):
    config = yaml.safe_load(profile.read_text())
    assert config["executor"] == "slurm"
    named = set(config.get("set-threads", {})) | set(config.get("set-resources", {}))
    assert named and named <= RULES, f"{profile}: no such rule(s) {named - RULES}"
    assert {"train", "inject_noise"} <= set(config["set-threads"])  # the heavy jobs get their threads


def test_the_gpu_profile_gives_a_gpu_to_every_job_that_runs_a_network():
    config = yaml.safe_load((ROOT / "workflow" / "profiles" / "slurm-gpu" / "config.yaml").read_text())
    for rule in ("train", "inject_noise", "inject_noise_target", "measure_theory"):
        assert config["set-resources"][rule]["slurm_extra"] == "--gres=gpu:1"


def test_the_one_node_profile_gives_every_job_one_thread_as_a_local_run_does():
    config = yaml.safe_load((ROOT / "workflow" / "profiles" / "slurm-one-node" / "config.yaml").read_text())
    assert set(config["set-threads"].values()) == {1}


def test_jobs_sent_to_the_cluster_leave_out_the_ones_snakemake_ran_itself():
    output = """Job stats:
job              count
-------------  -------
all                  1
book                 1
train                2
total                4

localrule all:
    input: _build/html/index.html
"""
    assert load_cluster_test().submitted_jobs(output) == {"book": 1, "train": 2}


def test_a_result_that_differs_from_the_local_run_fails(tmp_path, monkeypatch):
    cluster_test = load_cluster_test()
    monkeypatch.setattr(cluster_test, "RUNS_DIR", str(tmp_path / "runs"))
    reference = tmp_path / "reference"
    for root in (reference / "runs", tmp_path / "runs"):
        (root / "r1" / "theory").mkdir(parents=True)
        (root / "r1" / "params.yaml").write_text("run_id: r1\n")
        pd.DataFrame(dict(eta=[0.0, 0.1], accuracy=[0.5, 0.25])).to_csv(root / "r1" / "noise.csv", index=False)
        pd.DataFrame(dict(epoch=[1], c=[2.0])).to_csv(root / "r1" / "theory" / "checkpoints.csv", index=False)
    assert cluster_test.compare_results(["r1"], reference) == 2
    pd.DataFrame(dict(eta=[0.0, 0.1], accuracy=[0.5, 0.25000001])).to_csv(tmp_path / "runs" / "r1" / "noise.csv",
                                                                         index=False)
    with pytest.raises(SystemExit, match="noise.csv differs"):
        cluster_test.compare_results(["r1"], reference)
    (tmp_path / "runs" / "r1" / "theory" / "checkpoints.csv").unlink()
    with pytest.raises(SystemExit, match="has tables"):
        cluster_test.compare_results(["r1"], reference)
