"""BN statistics recalibration after weight noise: the statistics it sets, and that the clean
model comes back after every grid."""
import keras
import numpy as np
import pytest

from analognoise import noise
from analognoise.models import OutputCalibration, build_model, fold_batchnorm
from analognoise.recalibration import BatchNormRecalibration, calibrated_deployment


def bn_state(model):
    return {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.weights if "moving" in v.path}


def test_statistics_are_the_average_over_the_calibration_batches(untrained_resnet8, random_inputs):
    model = untrained_resnet8
    x, _ = random_inputs
    before = bn_state(untrained_resnet8)
    recalibrate = BatchNormRecalibration(model, x, batch_size=32)
    recalibrate()
    stem = keras.Model(model.input, model.get_layer("stem_conv").output)
    batches = [keras.ops.convert_to_numpy(stem(x[i:i + 32])) for i in (0, 32)]
    bn = model.get_layer("stem_conv_bn")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_mean),
                               np.mean([b.mean(axis=(0, 1, 2)) for b in batches], axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_variance),
                               np.mean([b.var(axis=(0, 1, 2)) for b in batches], axis=0), rtol=1e-3, atol=1e-5)
    assert bn.momentum == pytest.approx(0.99), "the layers' momentum is put back"
    recalibrate.restore()
    assert all(np.array_equal(before[p], v) for p, v in bn_state(untrained_resnet8).items())


def test_a_grid_with_recalibration_restores_weights_and_statistics(untrained_resnet8, random_inputs):
    model = untrained_resnet8
    x, y = random_inputs
    before = {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.weights}
    recalibrate = BatchNormRecalibration(model, x[:32])
    table = noise.noise_grid(model, x, y, etas=[0.0, 0.5], repeats=2, targets="kernels", run_id="r",
                             progress=False, recalibrate=recalibrate)
    assert (table.calibration_images == 32).all()
    plain = noise.noise_grid(model, x, y, etas=[0.0, 0.5], repeats=2, targets="kernels", run_id="r", progress=False)
    assert table[table.eta == 0].accuracy.tolist() == plain[plain.eta == 0].accuracy.tolist()
    assert all(np.array_equal(before[v.path], keras.ops.convert_to_numpy(v)) for v in model.weights)


def test_a_model_without_bn_has_nothing_to_recalibrate(random_inputs):
    with pytest.raises(ValueError, match="no BN layer"):
        BatchNormRecalibration(build_model("resnet", 8, 10, "none"), random_inputs[0])
    with pytest.raises(ValueError, match="at least one image"):
        BatchNormRecalibration(build_model("resnet", 8, 10, "all"), random_inputs[0][:0])


def bn_model_with_statistics(x):
    """A ResNet-8 with BN whose statistics are those of ``x`` and whose gammas include negative
    ones (the sign must survive folding)."""
    keras.utils.set_random_seed(3)
    model = build_model("resnet", 8, 10, "all")
    BatchNormRecalibration(model, x)()
    rng = np.random.default_rng(4)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.gamma.assign(rng.normal(1.0, 0.6, layer.gamma.shape).astype("float32"))
            layer.beta.assign(rng.normal(0.0, 0.3, layer.beta.shape).astype("float32"))
    return model


def test_calibrated_fold_passes_its_input_on_until_recalibrated(random_inputs):
    x, _ = random_inputs
    model = bn_model_with_statistics(x)
    calibrated = fold_batchnorm(model, calibration=True)
    bn_layers = sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    assert sum(isinstance(layer, OutputCalibration) for layer in calibrated.layers) == bn_layers == 9
    np.testing.assert_allclose(calibrated.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    targets = noise.WeightNoise(calibrated, "folded").targets
    assert {t.role for t in targets} == {"kernel", "bias"}, "the digital calibration gets no noise"
    with pytest.raises(ValueError, match="needs a model without BN"):
        noise.WeightNoise(model, "folded")


def test_recalibrate_then_fold_matches_recalibrating_the_unfolded_bn(random_inputs):
    """Weights disturbed before folding: recalibrating the unfolded BN gives the network that
    recalibrating the calibrated fold of the clean model gives once the disturbed folded weights
    are written into it (up to where epsilon enters); the plain fold, not recalibrated, does not."""
    x, _ = random_inputs
    model = bn_model_with_statistics(x)
    disturbed = keras.models.clone_model(model)
    disturbed.set_weights(model.get_weights())
    rng = np.random.default_rng(5)
    for layer in disturbed.layers:
        if isinstance(layer, keras.layers.Conv2D):
            layer.kernel.assign(layer.kernel * rng.normal(1.0, 0.4, layer.kernel.shape).astype("float32"))
    written = fold_batchnorm(disturbed)
    calibrated = fold_batchnorm(model, calibration=True)
    for layer in written.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            calibrated.get_layer(layer.name).set_weights(layer.get_weights())
    not_recalibrated = calibrated.predict(x, verbose=0)
    BatchNormRecalibration(disturbed, x, batch_size=64)()
    BatchNormRecalibration(calibrated, x, batch_size=64)()
    expected = disturbed.predict(x, verbose=0)
    recalibrated_gap = np.abs(calibrated.predict(x, verbose=0) - expected).max()
    assert recalibrated_gap < 0.005
    assert np.abs(not_recalibrated - expected).max() > 5 * recalibrated_gap


def test_a_network_without_bn_gets_the_same_per_channel_calibration(random_inputs):
    x, y = random_inputs
    keras.utils.set_random_seed(6)
    model = build_model("resnet", 8, 10, "none")
    calibrated = calibrated_deployment(model, x, batch_size=64)
    sites = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.name for layer in calibrated.layers if isinstance(layer, OutputCalibration)] == \
        [f"{name}_calibration" for name in sites], "after every conv, not after the classifier"
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(calibrated.predict(x, verbose=0), expected, atol=1e-5)
    stem = keras.ops.convert_to_numpy(keras.Model(model.input, model.get_layer("stem_conv").output)(x))
    layer = calibrated.get_layer("stem_conv_calibration")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_mean), stem.mean(axis=(0, 1, 2)), atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_variance), stem.var(axis=(0, 1, 2)),
                               rtol=1e-4, atol=1e-6)
    BatchNormRecalibration(calibrated, x, batch_size=64)()  # clean weights, one batch: the statistics it had
    np.testing.assert_allclose(calibrated.predict(x, verbose=0), expected, atol=1e-4)
    seed = noise.trial_seed(0, noise.run_key("r"), 0.5, 0)
    draws, plain_draws = (noise.WeightNoise(m, "folded").noisy(0.5, seed) for m in (calibrated, model))
    assert len(draws) == len(plain_draws) and all(np.array_equal(a, b) for a, b in zip(draws, plain_draws)), \
        "the calibrated network gets the very noise draws of the plain one (paired comparisons)"
    assert calibrated_deployment(build_model("resnet", 8, 10, "all"), x[:0]).layers, "BN: folded, no images needed"
