"""Training throughput on this machine, measured in one run: images/s of the project's training
loop with every core, of N jobs side by side with cores/N threads each (summed), and of a plain
``model.fit`` on in-memory arrays with every core; and the ratio of the project's loop to plain
fit (goal >= 0.9). Each measurement runs in its own process (thread counts are fixed when
TensorFlow starts) and times epochs 2..E, after the first epoch has compiled everything.

    python benchmarks/train_throughput.py [--model resnet20] [--bn all] [--images 5000] [--epochs 3]

Needs CIFAR-10 (found as the project finds it, e.g. $ANALOGNOISE_DATA_DIR).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def worker(kind: str, threads: int, model: str, bn: str, images: int, epochs: int, batch: int) -> dict:
    """Train in this process; returns images/s over epochs 2..E."""
    from analognoise.runtime import use_threads

    use_threads(threads)
    import keras
    import pandas as pd

    from analognoise import data, studies, training
    from analognoise.params import make_params
    from analognoise.runs import read_record

    params = make_params(**studies.parse_model(model), bn=bn, epochs=epochs, batch_size=batch,
                         train_subset=images, lr_schedule="constant")
    if kind == "project":
        with tempfile.TemporaryDirectory() as runs:
            run_dir = training.train_run(params, runs, verbose=0)
            seconds = pd.read_csv(run_dir / "history.csv").seconds.iloc[1:].sum()
            trained = read_record(run_dir)["train_images"]
    else:
        dataset = data.load_cifar(params["dataset"], None, images, seed=0)
        x = dataset.normalize(dataset.x_train)
        y = data.one_hot(dataset.y_train, dataset.num_classes)
        model_ = training.new_model(params, dataset.num_classes, len(y))
        ends = []
        timer = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: ends.append(time.perf_counter()))
        model_.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[timer])
        seconds = ends[-1] - ends[0]
        trained = len(y)
    return {"kind": kind, "threads": threads, "images_per_second": trained * (epochs - 1) / seconds}


def spawn(kind: str, threads: int, args) -> subprocess.Popen:
    command = [sys.executable, __file__, "--worker", kind, "--threads", str(threads), "--model", args.model,
               "--bn", args.bn, "--images", str(args.images), "--epochs", str(args.epochs),
               "--batch-size", str(args.batch_size)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def result(process: subprocess.Popen) -> dict:
    out, _ = process.communicate()
    if process.returncode:
        sys.exit(f"a benchmark worker failed (exit {process.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--bn", default="all")
    parser.add_argument("--images", type=int, default=5000, help="training images per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per measurement (the first is not timed)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--worker", choices=["project", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be >= 2 (the first epoch compiles and is not timed)")
    if args.worker:
        print(json.dumps(worker(args.worker, args.threads, args.model, args.bn, args.images, args.epochs,
                                args.batch_size)))
        return
    cores = args.cores
    print(f"{args.model} (bn={args.bn}), batch {args.batch_size}, {args.images} images x {args.epochs - 1} "
          f"timed epochs, {cores} cores", flush=True)
    alone = result(spawn("project", cores, args))["images_per_second"]
    print(f"  project loop, one job, {cores} threads:        {alone:7.1f} images/s", flush=True)
    jobs = [spawn("project", 1, args) for _ in range(cores)] if cores > 1 else []
    together = sum(result(job)["images_per_second"] for job in jobs)
    if jobs:
        print(f"  project loop, {cores} jobs x 1 thread (summed):  {together:7.1f} images/s "
              f"({together / alone:.2f}x one job)", flush=True)
    plain = result(spawn("plain", cores, args))["images_per_second"]
    print(f"  plain model.fit, in-memory arrays, {cores} threads: {plain:7.1f} images/s", flush=True)
    print(f"ratio of the project's loop to plain fit: {alone / plain:.2f} (goal >= 0.9)")


if __name__ == "__main__":
    main()
