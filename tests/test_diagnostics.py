"""BN diagnostics (analognoise.diagnostics): the dead-channel rule, the per-site table, the
surgery on arrays and on a Keras model (clean output kept, gain removed), and the report."""
import keras
import numpy as np
import pytest

from analognoise.diagnostics import (DEAD_VARIANCE_FRACTION, BNSite, dead_channels, fragility_report,
                                     model_summary, silenced, site_table)
from analognoise.models import bn_sites, silence_dead_channels

EPS = 1e-3


def site(variance, gamma=None, name="bn"):
    variance = np.asarray(variance, np.float32)
    channels = len(variance)
    gamma = np.ones(channels, np.float32) if gamma is None else np.asarray(gamma, np.float32)
    kernel = np.ones((3, 3, 2, channels), np.float32) * (variance > 1e-6)
    return BNSite(name, kernel, gamma, np.full(channels, 0.5, np.float32), np.zeros(channels, np.float32),
                  variance, EPS)


def test_dead_rule_and_site_table():
    s = site([1.0, 4.0, 1e-9, 0.0], gamma=[1.0, 2.0, 0.5, 1.0])
    assert dead_channels(s).tolist() == [False, False, True, True]
    assert DEAD_VARIANCE_FRACTION * EPS == pytest.approx(1e-5)
    row = site_table([s]).iloc[0]
    gain2 = np.array([1 / (1 + EPS), 4 / (4 + EPS), 0.25 / (1e-9 + EPS), 1 / EPS])
    assert row.dead == 2 and row.dead_fraction == 0.5
    assert row.kernel_noise_gain == pytest.approx(gain2.mean(), rel=1e-5)
    assert row.dead_gain_share == pytest.approx(gain2[2:].sum() / gain2.sum(), rel=1e-5)
    assert row.max_gain == pytest.approx(1 / np.sqrt(EPS), rel=1e-4)
    assert row.gamma_std_over_rms == pytest.approx(np.std([1, 2, .5, 1]) / np.sqrt(np.mean(np.square([1, 2, .5, 1]))))
    summary = model_summary(site_table([s, site([1.0, 1.0], name="live")]))
    assert (summary["dead"], summary["bn_channels"], summary["sites_with_dead"]) == (2, 6, 1)
    with pytest.raises(ValueError, match="fraction must be > 0"):
        dead_channels(s, 0)
    with pytest.raises(ValueError, match="gamma has shape"):
        BNSite("bad", np.zeros((3, 3, 2, 4)), np.ones(3), np.ones(4), np.zeros(4), np.ones(4), EPS)


def test_silenced_changes_only_dead_channels():
    s = site([1.0, 1e-9], gamma=[1.5, 0.7])
    gamma, beta, mean, variance = silenced(s)
    np.testing.assert_array_equal(gamma, [1.5, 0.0])
    np.testing.assert_array_equal(beta, s.beta)
    np.testing.assert_array_equal(variance, [1.0, 1.0])
    np.testing.assert_array_equal(mean, [0.0, 0.0])
    assert gamma.dtype == np.float32


def tiny_bn_model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="conv_bn", epsilon=EPS)(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="fc")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    kernel, bias = model.get_layer("conv").get_weights()
    kernel[..., 1] = 0.0  # channel 1 is dead: its conv output is its bias, a constant
    model.get_layer("conv").set_weights([kernel, bias + 0.2])
    gamma = np.array([1.0, 0.8, 1.2, 0.9], np.float32)
    model.get_layer("conv_bn").set_weights([gamma, np.array([0.1, 0.3, -0.2, 0.0], np.float32),
                                            np.full(4, 0.2, np.float32), np.array([0.5, 1e-12, 2.0, 1.0], np.float32)])
    return model


def test_silencing_a_keras_model_keeps_its_output_and_removes_the_gain():
    model = tiny_bn_model()
    sites = bn_sites(model)
    assert [s.name for s in sites] == ["conv_bn"] and dead_channels(sites[0]).tolist() == [False, True, False, False]
    quiet, count = silence_dead_channels(model)
    assert count == 1
    x = np.random.default_rng(0).normal(size=(16, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(quiet.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert site_table(bn_sites(quiet)).max_gain.iloc[0] < 2  # the ~28x gain of the dead channel is gone
    assert site_table(bn_sites(model)).max_gain.iloc[0] > 20
    # kernel noise on the dead channel: amplified before, not after
    noisy = [model.get_layer("conv").get_weights()[0].copy(), model.get_layer("conv").get_weights()[1]]
    noisy[0][..., 1] += 0.01
    for network, bound in ((model, None), (quiet, 1e-6)):
        clean = network.predict(x, verbose=0)
        original = network.get_layer("conv").get_weights()
        network.get_layer("conv").set_weights(noisy)
        change = np.abs(network.predict(x, verbose=0) - clean).max()
        network.get_layer("conv").set_weights(original)
        assert change < bound if bound else change > 1e-3


def test_fragility_report_names_what_amplifies_noise():
    assert "No BN layers" in fragility_report(site_table([]))
    dead = fragility_report(site_table([site([1.0, 1e-9, 1e-12, 1.0])]))
    assert "Dead channels: 2 of 4" in dead and "silence_dead_channels" in dead
    centred = fragility_report(site_table([site([1.0, 1.0, 1.0], gamma=[-0.5, 0.1, 0.6])]))
    assert "No dead channels" in centred and "Zero-centred gammas at 1 of 1 sites" in centred
