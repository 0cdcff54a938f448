"""Cost of one noise trial, measured in one run on ResNet-20 and 10,000 images.

(a) one clean inference pass of our evaluator; (b) one noise trial of our engine (write noisy
weights into the model's variables + the same pass), for the paper's noise and for every other
noise model of :mod:`analognoise.noisemodels`; (c) the naive loop: clone the model, set noisy
weights, compile, ``model.evaluate``. They are interleaved over several rounds and medians
reported, since timings on shared machines drift; the time to draw one trial's weights alone
is printed too (what a trial spends beyond the pass).

    python benchmarks/noise_eval.py [--rounds 3] [--images 10000] [--data-dir DIR]

Prints ``trial_vs_clean_ratio`` per noise model (goal <= 1.15) and ``speedup_vs_naive``
(goal >= 1.3).
"""
from __future__ import annotations

import argparse
import time

from analognoise.runtime import use_threads

use_threads()  # every core, oneDNN on: as the project runs; before Keras starts TensorFlow
import keras  # noqa: E402
import numpy as np

from analognoise import data, noise
from analognoise.models import build_model
from analognoise.noisemodels import make_noise_model

#: (noise model spec, the level a trial uses)
NOISE_MODELS = [("paper", 0.1), ("additive-max", 0.02), ("multiplicative", 0.1), ("pcm", 86_400.0),
                ({"name": "pcm", "compensation": True}, 86_400.0), ({"name": "paper", "bits": 6}, 0.1)]


def naive_trial(model, noisy_weights, x, y_onehot):
    clone = keras.models.clone_model(model)
    clone.set_weights(noisy_weights)
    clone.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    return clone.evaluate(x, y_onehot, batch_size=1000, verbose=0)[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--data-dir", default=None, help="CIFAR-10 location (else random images)")
    args = parser.parse_args()

    try:
        images, labels = data.load_test_set("cifar10", args.data_dir, args.images, download=False)
        pixels = images.reshape(-1, 3) / 255
        x = data.normalize_images(images, pixels.mean(0), pixels.std(0))
        source = "CIFAR-10 test images"
    except data.DatasetNotFoundError:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((args.images, 32, 32, 3)).astype("float32")
        labels = rng.integers(0, 10, args.images)
        source = "random images"
    keras.utils.set_random_seed(0)
    model = build_model("resnet", 20, 10, "all")
    weight_noise = noise.WeightNoise(model, "trainable")
    others = [(noise.WeightNoise(model, "trainable", noise_model=spec), level) for spec, level in NOISE_MODELS[1:]]
    evaluate = noise.Evaluator(model, x, labels)
    y_onehot = data.one_hot(labels, 10)
    evaluate()  # compile + warm up both paths
    naive_trial(model, model.get_weights(), x[:1000], y_onehot[:1000])

    clean, trial, naive = [], [], []
    other_trials = {make_noise_model(spec).label(): [] for spec, _ in NOISE_MODELS[1:]}
    for r in range(args.rounds):
        t = time.perf_counter()
        evaluate()
        clean.append(time.perf_counter() - t)
        seed = noise.trial_seed(0, 0, 0.1, r)
        t = time.perf_counter()
        weight_noise.apply(0.1, seed)
        evaluate()
        trial.append(time.perf_counter() - t)
        weight_noise.restore()
        t = time.perf_counter()  # the naive loop also has to draw the noise
        weight_noise.apply(0.1, seed)
        noisy = model.get_weights()
        weight_noise.restore()
        naive_trial(model, noisy, x, y_onehot)
        naive.append(time.perf_counter() - t)
        for other, level in others:
            t = time.perf_counter()
            other.apply(level, seed)
            evaluate()
            other_trials[other.noise_model.label()].append(time.perf_counter() - t)
            other.restore()
        print(f"round {r + 1}: clean {clean[-1]:.2f} s, trial {trial[-1]:.2f} s, naive {naive[-1]:.2f} s",
              flush=True)
    c, tr, nv = np.median(clean), np.median(trial), np.median(naive)
    print(f"ResNet-20, {len(x)} {source}, keras {keras.__version__} ({keras.backend.backend()})")
    print(f"clean_pass_s {c:.3f}  clean_images_per_s {len(x) / c:.0f}")
    print(f"trial_s {tr:.3f}  naive_trial_s {nv:.3f}")
    print(f"trial_vs_clean_ratio {tr / c:.3f}")
    print(f"speedup_vs_naive {nv / tr:.2f}")
    print("noise model                         draw_ms  trial_vs_clean_ratio")
    for (spec, level), wn in zip(NOISE_MODELS, [weight_noise] + [o for o, _ in others]):
        started = time.perf_counter()
        wn.noisy(level, noise.trial_seed(0, 0, level, 0))
        draw_ms = 1000 * (time.perf_counter() - started)
        label = wn.noise_model.label()
        ratio = tr / c if label == "paper" else np.median(other_trials[label]) / c
        print(f"{label:<35} {draw_ms:7.1f}  {ratio:.3f}")


if __name__ == "__main__":
    main()
