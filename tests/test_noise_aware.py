"""Noise-aware training: noisy forward passes, updates applied to the clean weights, and run ids."""
import keras
import numpy as np
import pytest

from analognoise import params, runs, training
from analognoise.noise_aware import TrainingNoise


def small_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)])
    return model


def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(64, 8)).astype("float32"), rng.integers(0, 3, 64)


def fit(model, callbacks, learning_rate):
    model.compile(optimizer=keras.optimizers.SGD(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model.fit(*data(), batch_size=16, epochs=2, verbose=0, shuffle=False, callbacks=callbacks)


def test_without_updates_the_clean_weights_come_back_exactly():
    model = small_model()
    before = [w.copy() for w in model.get_weights()]
    fit(model, [TrainingNoise(0.5, seed=1)], learning_rate=0.0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_the_forward_pass_sees_noise_and_the_update_lands_on_the_clean_weights():
    quiet, noisy = small_model(), small_model()
    quiet_loss = fit(quiet, [], 0.05).history["loss"]
    noisy_loss = fit(noisy, [TrainingNoise(0.5, seed=1)], 0.05).history["loss"]
    assert noisy_loss[0] > quiet_loss[0], "the loss is computed at noisy weights"
    difference = max(np.abs(a - b).max() for a, b in zip(quiet.get_weights(), noisy.get_weights()))
    assert 0 < difference < 0.5, "the updates differ (noisy gradients) but the weights carry no noise"
    again = small_model()
    fit(again, [TrainingNoise(0.5, seed=1)], 0.05)
    for a, b in zip(noisy.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)  # the draws depend on (seed, epoch, batch) only


def test_train_noise_is_a_training_parameter(tmp_path, data_root):
    assert params.run_id(params.make_params(depth=8)) == params.run_id(params.make_params(depth=8, train_noise=0.0))
    with pytest.raises(ValueError, match="train_noise must be a noise factor"):
        params.make_params(depth=8, train_noise=1.5)
    run_dir = training.train_run(params.make_params(depth=8, epochs=1, batch_size=64, train_noise=0.1),
                                 tmp_path / "runs", data_root, verbose=0)
    assert runs.read_record(run_dir)["params"]["train_noise"] == 0.1
