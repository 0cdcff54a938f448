"""`make cluster-test`: a study through a real SLURM scheduler on this machine, checked against a local run.

Makes sure a local run of the study's runs exists (``snakemake --cores 2``, reused where this
checkout already made them), sets them aside, starts the one-node scheduler
(``workflow/cluster/one_node_slurm.sh``), reruns the study's training and everything downstream of
it (noise, theory, the pages that show them, the book) through ``snakemake --profile
workflow/profiles/slurm-one-node --forcerun train`` (the SLURM executor plugin), then
checks that

* every job went through ``sbatch``: ``sacct`` lists one COMPLETED allocation per Snakemake job,
  rule for rule;
* the results equal the local run's: the same run ids, and every noise table (and theory table)
  identical, value for value.

It stops the scheduler on the way out (``--keep-scheduler`` leaves it up) and prints the SLURM and
plugin versions and the time the study took through the scheduler.

    python workflow/scripts/cluster_test.py [--study smoke] [--keep-scheduler]
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from analognoise import studies
from analognoise.paths import EXECUTED_DIR, LOGS_DIR, RUNS_DIR, resolve

SCHEDULER = "workflow/cluster/one_node_slurm.sh"
PROFILE = "workflow/profiles/slurm-one-node"
#: where a run lives: (name in the reference folder, the project's folder)
RUN_FOLDERS = (("runs", RUNS_DIR), ("executed", EXECUTED_DIR))
#: the rules that make a run's results (what the local reference run needs)
RUN_RULES = ["inject_noise", "inject_noise_target", "measure_theory"]


def say(text: str) -> None:
    print(f">> [cluster-test] {text}", flush=True)


def snakemake(arguments: list[str], log: Path, env: dict | None = None) -> str:
    """Run Snakemake in the project root with ``arguments``; its output goes to ``log`` and is
    returned; a failure raises naming the log."""
    bin_dir = Path(sys.executable).parent
    command = [str(bin_dir / "snakemake"), *arguments]
    environment = {**os.environ, **(env or {}), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    log.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(command, cwd=resolve("."), env=environment, capture_output=True, text=True)
    log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise SystemExit(f"FAIL: {' '.join(command)} exited with {result.returncode}; see {log}\n"
                         + "\n".join((result.stdout + result.stderr).splitlines()[-30:]))
    return result.stdout + result.stderr


def study_run_ids(study: str) -> list[str]:
    """Run ids of the study and of its companion studies (what its build trains)."""
    config = studies.load_study(study)
    return [cell.run_id for s in (config, *studies.companions(config, None)) for cell in studies.expand(s)]


def set_aside(run_ids: list[str], reference: Path) -> None:
    """Move the runs (their folders and executed notebooks) to ``reference``, so that the
    scheduler makes them again from nothing."""
    for run in run_ids:
        for kind, folder in RUN_FOLDERS:
            source = resolve(folder) / run
            if source.exists():
                (reference / kind).mkdir(parents=True, exist_ok=True)
                shutil.move(str(source), reference / kind / run)


def restore(run_ids: list[str], reference: Path) -> None:
    """Put back the local runs the scheduler did not make again (a failed test leaves the
    checkout as it found it), then remove ``reference``."""
    for run in run_ids:
        if not (resolve(RUNS_DIR) / run / "params.yaml").is_file():
            for kind, folder in RUN_FOLDERS:
                kept = reference / kind / run
                if kept.exists():
                    shutil.rmtree(resolve(folder) / run, ignore_errors=True)
                    shutil.move(str(kept), resolve(folder) / run)
    shutil.rmtree(reference, ignore_errors=True)


def result_tables(run_dir: Path) -> list[Path]:
    """A run's result tables, relative to its folder: noise tables and theory measurements
    (the training history is left out: it records seconds)."""
    return sorted(p.relative_to(run_dir) for p in [*run_dir.glob("noise*.csv"), *run_dir.glob("theory/*.csv")])


def compare_results(run_ids: list[str], reference: Path) -> int:
    """Check every result table of every run equals the local run's; returns the number compared."""
    compared = 0
    for run in run_ids:
        local, scheduled = reference / "runs" / run, resolve(RUNS_DIR) / run
        if not (scheduled / "params.yaml").is_file():
            raise SystemExit(f"FAIL: the scheduler's run left no run {run}")
        if result_tables(local) != result_tables(scheduled):
            raise SystemExit(f"FAIL: run {run} has tables {result_tables(scheduled)} through SLURM, "
                             f"{result_tables(local)} locally")
        for table in result_tables(local):
            try:
                pd.testing.assert_frame_equal(pd.read_csv(local / table), pd.read_csv(scheduled / table),
                                              check_exact=True)
            except AssertionError as error:
                raise SystemExit(f"FAIL: {run}/{table} differs between the local and the SLURM run:\n{error}")
            compared += 1
    return compared


def submitted_jobs(output: str) -> collections.Counter:
    """rule -> count of the jobs Snakemake sent to the cluster: its 'Job stats' table less the
    jobs it ran itself ("localrule", e.g. the target rule `all`, which runs nothing)."""
    stats = output.split("Job stats:", 1)[1]
    local = set(re.findall(r"^localrule (\w+):$", output, re.M))
    return collections.Counter({rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", stats, re.M)
                                if rule != "total" and rule not in local})


def slurm_jobs(run_uuid: str, env: dict) -> pd.DataFrame:
    """The allocations SLURM accounted for the Snakemake run ``run_uuid`` (its job name):
    columns job, state, rule."""
    result = subprocess.run(["sacct", "-X", "-n", "-P", "--name", run_uuid, "-S", "now-1days",
                             "-o", "JobID,State,Comment%200"], capture_output=True, text=True, env=env, check=True)
    rows = [line.split("|") for line in result.stdout.splitlines() if line.strip()]
    jobs = pd.DataFrame(rows, columns=["job", "state", "comment"])
    jobs["rule"] = jobs.comment.str.extract(r"^rule_(\w+?)(?:_wildcards_.*)?$", expand=False)
    return jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="smoke")
    parser.add_argument("--keep-scheduler", action="store_true", help="leave the one-node scheduler running")
    args = parser.parse_args()
    logs = resolve(LOGS_DIR) / "cluster-test"
    run_ids = study_run_ids(args.study)

    say(f"the local run of study {args.study} ({len(run_ids)} runs; made now unless this checkout has it)")
    # Snakemake does not remake a missing run whose pages are up to date: a run that is missing
    # here is made by forcing the training rule (and so every run; there is no rerun by run)
    missing = [run for run in run_ids if not (resolve(RUNS_DIR) / run / "noise.csv").is_file()]
    snakemake(["--cores", "2", "--config", f"study={args.study}", "--until", *RUN_RULES,
               *(["--forcerun", "train"] if missing else [])], logs / "local.log")
    reference = Path(tempfile.mkdtemp(prefix="cluster-test-"))
    set_aside(run_ids, reference)

    env = {**os.environ, "SLURM_CONF": "/etc/slurm/slurm.conf"}
    try:
        subprocess.run(["bash", str(resolve(SCHEDULER)), "start"], check=True)
        say(f"study {args.study} through SLURM ({PROFILE})")
        started = time.monotonic()
        output = snakemake(["--profile", PROFILE, "--config", f"study={args.study}", "--forcerun", "train"],
                           logs / "slurm.log", env)
        seconds = time.monotonic() - started
        run_uuid = re.search(r"SLURM run ID: (\S+)", output).group(1)
        planned, jobs = submitted_jobs(output), slurm_jobs(run_uuid, env)
        accounted = collections.Counter(jobs.rule.dropna())
        if accounted != planned or not (jobs.state == "COMPLETED").all():
            raise SystemExit(f"FAIL: Snakemake ran {dict(planned)}; sacct accounts for {dict(accounted)} "
                             f"with states {dict(collections.Counter(jobs.state))}")
        say(f"sacct: {len(jobs)} allocations, all COMPLETED, one per job: "
            + ", ".join(f"{rule} {n}" for rule, n in sorted(planned.items())))
        if "train" not in planned:
            raise SystemExit("FAIL: the scheduler trained nothing: the runs set aside were not made again")
        compared = compare_results(run_ids, reference)
        say(f"results: {len(run_ids)} runs, {compared} noise and theory tables identical to the local run's")
        slurm_version = subprocess.run(["sinfo", "-V"], capture_output=True, text=True, env=env).stdout.split()[-1]
        say(f"passed: SLURM {slurm_version}, snakemake {version('snakemake')}, "
            f"snakemake-executor-plugin-slurm {version('snakemake-executor-plugin-slurm')}; "
            f"study {args.study} took {seconds / 60:.1f} min through the scheduler ({len(jobs)} jobs)")
    finally:
        if not args.keep_scheduler:
            subprocess.run(["bash", str(resolve(SCHEDULER)), "stop"], check=False)
        restore(run_ids, reference)


if __name__ == "__main__":
    main()
