import keras
import numpy as np
import pytest

from analognoise import noise
from analognoise.models import build_model, fold_batchnorm


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    m = build_model("resnet", 8, 10, "all")
    # make BN statistics and biases non-trivial, as after training
    rng = np.random.default_rng(0)
    for layer in m.layers:
        for v in layer.weights:
            if v.name in ("bias", "beta", "moving_mean"):
                v.assign(rng.normal(0, 0.1, v.shape).astype("float32"))
            elif v.name in ("gamma", "moving_variance"):
                v.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))
    return m


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(1)
    return rng.normal(size=(64, 32, 32, 3)).astype("float32"), rng.integers(0, 10, 64)


def draws(weight_noise, level, seed):
    """The additive noise of one trial: noisy minus clean values, per target."""
    return [values - t.clean for t, values in zip(weight_noise.targets, weight_noise.noisy(level, seed))]


def snapshot(model):
    return {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.weights}


def test_noise_std_is_eta_times_weight_std_per_tensor(model):
    eta = 0.2
    wn = noise.WeightNoise(model, "trainable", "tensor")
    for t, n in zip(wn.targets, draws(wn, eta, seed=7)):
        expected = eta * t.clean.std()
        if t.clean.size >= 1000:  # sampling error of a std estimate ~ 1/sqrt(2n)
            assert n.std() == pytest.approx(expected, rel=5 / np.sqrt(2 * t.clean.size))
            assert abs(n.mean()) < 5 * expected / np.sqrt(t.clean.size)
        assert t.reference.std == pytest.approx(t.clean.std())


def test_layer_scale_pools_one_std_over_the_layers_tensors(model):
    wn = noise.WeightNoise(model, "trainable", "layer")
    bn = [t for t in wn.targets if t.layer == "stem_conv_bn"]
    pooled = np.concatenate([t.clean.ravel() for t in bn]).std()
    assert {t.role for t in bn} == {"bn_gamma", "bn_beta"}
    assert all(t.reference.std == pytest.approx(pooled) for t in bn)
    per_tensor = noise.WeightNoise(model, "trainable", "tensor")
    gamma = next(t for t in per_tensor.targets if t.layer == "stem_conv_bn" and t.role == "bn_gamma")
    assert gamma.reference.std < 0.5 * pooled, "the two readings of the paper differ sharply for BN"


@pytest.mark.parametrize("targets, roles", [
    ("kernels", {"kernel"}),
    ("kernels+biases", {"kernel", "bias"}),
    ("trainable", {"kernel", "bias", "bn_gamma", "bn_beta"}),
    ("all", {"kernel", "bias", "bn_gamma", "bn_beta", "bn_moving_mean", "bn_moving_variance"}),
])
def test_targets_touch_exactly_the_chosen_variables(model, targets, roles):
    inventory = noise.weight_inventory(model)
    before = snapshot(model)
    wn = noise.WeightNoise(model, targets)
    wn.apply(0.1, seed=3)
    after = snapshot(model)
    wn.restore()
    changed = {path for path in before if not np.array_equal(before[path], after[path])}
    expected = set(inventory.loc[inventory.role.isin(roles), "variable"])
    assert changed == expected
    restored = snapshot(model)
    assert all(np.array_equal(before[p], restored[p]) for p in before)


def test_eta_zero_leaves_weights_and_accuracy_unchanged(model, images):
    before = snapshot(model)
    table = noise.noise_grid(model, *images, etas=[0.0], repeats=3, progress=False)
    assert table["accuracy"].nunique() == 1
    assert table["normalized_accuracy"].eq(1.0).all()
    assert all(np.array_equal(before[p], v) for p, v in snapshot(model).items())


def test_same_seed_same_result_and_repeats_differ(model, images):
    a = noise.noise_grid(model, *images, etas=[0.2, 0.4], repeats=3, seed=5, run_id="r", progress=False)
    b = noise.noise_grid(model, *images, etas=[0.2, 0.4], repeats=3, seed=5, run_id="r", progress=False)
    assert a.equals(b)
    wn = noise.WeightNoise(model)
    key = noise.run_key("r")
    d0 = draws(wn, 0.2, noise.trial_seed(5, key, 0.2, 0))
    d1 = draws(wn, 0.2, noise.trial_seed(5, key, 0.2, 1))
    assert not np.allclose(d0[0], d1[0])
    other_run = draws(wn, 0.2, noise.trial_seed(5, noise.run_key("s"), 0.2, 0))
    assert not np.allclose(d0[0], other_run[0])


def test_results_do_not_depend_on_which_etas_run_before(model, images):
    both = noise.noise_grid(model, *images, etas=[0.1, 0.3], repeats=2, run_id="x", progress=False)
    alone = noise.noise_grid(model, *images, etas=[0.3], repeats=2, run_id="x", progress=False)
    assert both[both.eta == 0.3]["accuracy"].tolist() == alone["accuracy"].tolist()


def test_nonfinite_outputs_count_as_wrong(model, images):
    x, _ = images
    evaluator = noise.Evaluator(model, x, np.zeros(len(x), int))
    variance = model.get_layer("stem_conv_bn").moving_variance
    clean = keras.ops.convert_to_numpy(variance).copy()
    try:
        variance.assign(-np.ones_like(clean))  # sqrt of a negative variance -> NaN everywhere
        accuracy, nonfinite = evaluator()
    finally:
        variance.assign(clean)
    assert nonfinite == 1.0 and accuracy == 0.0, "argmax(NaN) = 0 must not count as class 0"
    assert evaluator()[1] == 0.0


def test_large_noise_degrades_accuracy_of_a_trained_classifier():
    # a linear classifier that separates two blobs perfectly
    inputs = keras.Input((32, 32, 3))
    flat = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(flat))
    w = np.zeros((3072, 2), "float32")
    w[:, 0], w[:, 1] = 1, -1
    model.layers[-1].kernel.assign(w)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    x = (np.where(y == 0, 1.0, -1.0)[:, None] * 0.05 + rng.normal(0, 1, (400, 3072))).astype("float32")
    t = noise.noise_grid(model, x.reshape(-1, 32, 32, 3), y, etas=[0, 0.5, 8.0], repeats=4, progress=False)
    means = t.groupby("eta")["accuracy"].mean()
    assert means[0.0] > 0.95 and means[8.0] < means[0.5] <= means[0.0]


@pytest.mark.parametrize("kwargs, message", [
    (dict(etas=[-0.1]), "eta must be"),
    (dict(etas=[float("nan")]), "eta must be"),
    (dict(etas=[]), "empty"),
    (dict(repeats=0), "repeats"),
    (dict(repeats=1.5), "repeats"),
    (dict(targets="weights"), "kernels, kernels\\+biases, trainable, all, folded"),
    (dict(scale="global"), "tensor, layer"),
])
def test_bad_noise_settings_are_refused(kwargs, message):
    settings = dict(etas=[0.1], repeats=2, targets="trainable", scale="tensor") | kwargs
    with pytest.raises(ValueError, match=message):
        noise.validate_noise_params(**settings)


def test_folding_bn_keeps_the_outputs_and_removes_bn(model, images):
    folded = fold_batchnorm(model)
    x, _ = images
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers)
    np.testing.assert_allclose(folded.predict(x, verbose=0), model.predict(x, verbose=0), atol=2e-5)
    wn = noise.WeightNoise(folded, "folded")
    assert {t.role for t in wn.targets} == {"kernel", "bias"} and len(wn.targets) == 2 * 10
    with pytest.raises(ValueError, match="fold it first"):
        noise.WeightNoise(model, "folded")


def test_without_bn_four_targets_draw_the_same_noise_on_the_same_tensors():
    """What lets the ablation skip them (params.same_noise_targets): on a model without BN,
    kernels+biases, trainable, all and folded select the same tensors in the same order."""
    from analognoise.params import same_noise_targets
    model = build_model("resnet", 8, 10, "none")
    folded = fold_batchnorm(model)
    reference = noise.WeightNoise(model, "kernels+biases")
    for targets, m in (("trainable", model), ("all", model), ("folded", folded)):
        chosen = noise.WeightNoise(m, targets)
        assert [(t.layer, t.role) for t in chosen.targets] == [(t.layer, t.role) for t in reference.targets]
        for a, b in zip(draws(chosen, 0.2, 7), draws(reference, 0.2, 7)):
            np.testing.assert_array_equal(a, b)
        assert same_noise_targets(targets, "kernels+biases", "none")
    assert not same_noise_targets("kernels", "trainable", "none")
    assert not same_noise_targets("all", "trainable", "all")
    with_bn = build_model("resnet", 8, 10, "all")
    assert len(noise.WeightNoise(with_bn, "all").targets) > len(noise.WeightNoise(with_bn, "trainable").targets)


def test_a_tensor_gets_the_same_draws_whatever_else_is_noisy():
    """Per-tensor seeds (trial seed, variable path): adding biases or BN parameters to the
    noisy set leaves every kernel's noise unchanged, and folding BN keeps the draws of the
    layers it folds into (their paths do not change), so target differences are paired."""
    model = build_model("resnet", 8, 10, "all")
    seed = noise.trial_seed(0, noise.run_key("r"), 0.2, 3)
    kernels = noise.WeightNoise(model, "kernels")
    trainable = noise.WeightNoise(model, "trainable")
    by_path = {t.variable.path: n for t, n in zip(trainable.targets, draws(trainable, 0.2, seed))}
    for t, n in zip(kernels.targets, draws(kernels, 0.2, seed)):
        np.testing.assert_array_equal(n, by_path[t.variable.path])
    folded = noise.WeightNoise(fold_batchnorm(model), "folded")
    shared = [(t, n) for t, n in zip(folded.targets, draws(folded, 0.2, seed)) if t.role == "kernel"]
    assert shared
    for t, n in shared:  # same standard normals, scaled by the folded kernel's own std
        reference = by_path[t.variable.path] / (0.2 * next(k.reference.std for k in trainable.targets
                                                            if k.variable.path == t.variable.path))
        np.testing.assert_allclose(n / (0.2 * t.reference.std), reference, rtol=1e-5, atol=1e-5)


def test_every_trial_keeps_which_images_it_got_right(model, images):
    kept = []
    table = noise.noise_grid(model, *images, etas=[0.0, 0.3], repeats=3, seed=1, run_id="r", progress=False,
                             correct=kept)
    bits = np.stack(kept)
    assert bits.shape == (6, int(np.ceil(len(images[1]) / 8))) and bits.dtype == np.uint8
    correct = np.unpackbits(bits, axis=1, count=len(images[1])).astype(bool)
    np.testing.assert_allclose(correct.mean(axis=1), table.accuracy)


def test_pcm_grid_names_its_level_time_and_is_noisy_at_time_zero(model, images):
    table = noise.noise_grid(model, *images, etas=[0.0, 3600.0], repeats=2, run_id="r", progress=False,
                             noise_model="pcm", targets="kernels")
    assert "time_s" in table and "eta" not in table and set(table.noise_model) == {"pcm"}
    kept = []
    again = noise.noise_grid(model, *images, etas=[0.0], repeats=3, run_id="r", progress=False,
                             noise_model={"name": "pcm", "programming_scale": 5.0}, targets="kernels", correct=kept)
    assert len({bytes(k) for k in kept}) > 1, "programming noise acts at t = 0: every trial is drawn"
    assert (again.accuracy < again.clean_accuracy).any()


def test_a_deterministic_level_is_evaluated_once_and_restored(model, images, monkeypatch):
    before = snapshot(model)
    calls = []
    original = noise.Evaluator.correctness
    monkeypatch.setattr(noise.Evaluator, "correctness", lambda self: calls.append(1) or original(self))
    table = noise.noise_grid(model, *images, etas=[0.0], repeats=4, progress=False,
                             noise_model={"name": "paper", "bits": 2}, targets="kernels")
    assert len(calls) == 2, "the clean pass and one pass for the 4 identical trials"
    assert table.accuracy.nunique() == 1 and table.noise_model.iat[0] == "paper (bits=2)"
    assert all(np.array_equal(before[p], v) for p, v in snapshot(model).items())


def test_noise_on_chosen_layers_touches_only_them_with_the_full_trials_draws(model):
    seed = noise.trial_seed(0, noise.run_key("r"), 0.2, 0)
    everywhere = noise.WeightNoise(model)
    full = {t.variable.path: v for t, v in zip(everywhere.targets, everywhere.noisy(0.2, seed))}
    site = noise.WeightNoise(model, layers={"s1_b0_conv1", "s1_b0_conv1_bn"})
    assert {t.layer for t in site.targets} == {"s1_b0_conv1", "s1_b0_conv1_bn"}
    for t, values in zip(site.targets, site.noisy(0.2, seed)):
        np.testing.assert_array_equal(values, full[t.variable.path])
    with pytest.raises(ValueError, match="not layers of"):
        noise.WeightNoise(model, layers={"conv99"})


def test_scale_ratios_convert_between_noise_conventions(model):
    ratios = noise.scale_ratios(model)
    assert set(ratios.role) == {"kernel"} and (ratios.max_over_std > 1).all()
    stem = model.get_layer("stem_conv").kernel
    value = keras.ops.convert_to_numpy(stem)
    row = ratios[ratios.layer == "stem_conv"].iloc[0]
    assert row.max_over_std == pytest.approx(np.abs(value).max() / value.std(), rel=1e-5)
