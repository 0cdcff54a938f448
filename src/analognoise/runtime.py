"""Process settings that must be made before TensorFlow starts: threads and oneDNN.

Call :func:`use_threads` first thing in a process (a notebook's first code cell, a script's
first lines), before anything imports Keras or TensorFlow: TensorFlow reads these settings
once, when it starts its thread pools. ``threads`` is what the workflow gave the job, so
``snakemake --cores 2`` runs two one-thread jobs or one two-thread job, never four threads
fighting over two cores.
"""
from __future__ import annotations

import os

#: TensorFlow leaves oneDNN off on CPUs without AVX-512; with it, ResNet-20 trains about 1.8x
#: faster on an AVX2 CPU (measured by benchmarks/train_throughput.py)
_ENVIRONMENT = {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


def thread_environment(threads: int | None = None) -> dict[str, str]:
    """Environment variables that limit a process started with them to ``threads`` CPU threads
    (0 or None: every core) for TensorFlow and OpenMP, with oneDNN on and TensorFlow's start-up
    messages silenced."""
    threads = int(threads or os.cpu_count() or 1)
    if threads < 1:
        raise ValueError(f"threads must be >= 1 (or 0 for every core), got {threads}")
    counts = {key: str(threads) for key in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                                             "TF_NUM_INTEROP_THREADS")}
    return {**_ENVIRONMENT, **counts}


def use_threads(threads: int | None = None) -> int:
    """Limit this process to ``threads`` CPU threads for TensorFlow's intra- and inter-op
    pools and OpenMP (0 or None: what the environment says, as set by the workflow, else every
    core), turn oneDNN on and silence TensorFlow's start-up messages; returns the thread count.
    Raises RuntimeError if TensorFlow already started with another count."""
    threads = int(threads or os.environ.get("TF_NUM_INTRAOP_THREADS") or 0)
    environment = thread_environment(threads)
    threads = int(environment["TF_NUM_INTRAOP_THREADS"])
    for key, value in environment.items():
        if key in _ENVIRONMENT:
            os.environ.setdefault(key, value)
        else:
            os.environ[key] = value
    try:
        import tensorflow as tf
    except ImportError:  # e.g. the JAX backend on a GPU machine without TensorFlow
        return threads
    current = tf.config.threading.get_intra_op_parallelism_threads()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError as error:
        if current != threads:
            raise RuntimeError(f"TensorFlow already started with {current or 'default'} threads; "
                               f"call use_threads({threads}) before the first model is built") from error
    return threads
