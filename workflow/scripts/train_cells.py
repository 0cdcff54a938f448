"""Train chosen runs of a study and make every noise table they need, several runs side by side
as separate processes, without Snakemake: for a GPU machine (Keras on JAX) or a node with many
cores, where one process per run keeps the device busy while others compile.

    python workflow/scripts/train_cells.py bn-tradeoff --match vgg16 --jobs 10

Each run is a normal run (resumable, recorded in data/runs/<run_id>/, its log in
data/logs/train_cells/<run_id>.log: the logs folder beside --runs-dir); a finished run or noise table is not made again. Then
`make commit-runs STUDY=<study>` commits them as any other run.
"""
import argparse
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def train_and_inject(study: str, rid: str, threads: int, runs_dir: str) -> None:
    """Train run ``rid`` of ``study`` into ``runs_dir`` and write its main and ablation noise tables."""
    from analognoise.runtime import use_threads

    use_threads(threads)
    from analognoise import noise, studies, training

    cell = next(c for c in studies.expand(studies.load_study(study)) if c.run_id == rid)
    run_dir = training.train_run(cell.params, runs_dir)
    for targets in (None, *cell.ablation_runs):
        parameters = studies.noise_parameters(cell, runs_dir, targets)
        if not (run_dir / parameters.get("output", "noise.csv")).is_file():
            noise.inject_run(**parameters)
    print("done", rid, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study", help="a study name (studies/<name>.yaml) or config path")
    parser.add_argument("--match", default="", help="train only the runs whose id contains this text")
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side, one process each")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per run (TensorFlow)")
    parser.add_argument("--runs-dir", default="data/runs", help="where runs are trained (default data/runs)")
    parser.add_argument("--run", help=argparse.SUPPRESS)  # one run, in this process
    args = parser.parse_args()
    if args.jobs < 1 or args.threads < 0:
        parser.error("--jobs must be >= 1 and --threads >= 0 (0: every core)")
    if args.run:
        train_and_inject(args.study, args.run, args.threads, args.runs_dir)
        return 0
    from analognoise import studies

    chosen = [c.run_id for c in studies.expand(studies.load_study(args.study)) if args.match in c.run_id]
    if not chosen:
        parser.error(f"no run of {args.study} has {args.match!r} in its id")
    logs = Path(args.runs_dir).parent / "logs" / "train_cells"
    logs.mkdir(parents=True, exist_ok=True)

    def one(rid: str) -> int:
        with open(logs / f"{rid}.log", "w") as log:
            code = subprocess.run([sys.executable, __file__, args.study, "--run", rid, "--threads",
                                   str(args.threads), "--runs-dir", args.runs_dir],
                                  stdout=log, stderr=subprocess.STDOUT).returncode
        print(f"{rid}: {'done' if code == 0 else f'failed (exit {code}), see {logs / rid}.log'}", flush=True)
        return code

    with ThreadPoolExecutor(args.jobs) as pool:
        codes = list(pool.map(one, chosen))
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
