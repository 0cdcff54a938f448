"""BN statistics recalibration after weight noise: the statistics it sets, and that the clean
model comes back after every grid."""
import keras
import numpy as np
import pytest

from analognoise import noise
from analognoise.models import build_model
from analognoise.recalibration import BatchNormRecalibration


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
