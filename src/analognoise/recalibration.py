"""BN statistics recalibration after weight noise: re-estimate every BN layer's moving mean and
variance from unlabelled training images passed through the noisy network, the mitigation a
network with BN has and a network without BN has not; and the crossbar deployment in which
it is a digital per-channel gain and offset after each crossbar (:func:`calibrated_deployment`:
BN folded, or a network without BN given the same calibration), recalibrated the same way.

With images x_1..x_B in batches, batch k (0-based) is run through the network in training mode
with each BN layer's momentum set to k / (k + 1), so that after the last batch every moving
statistic is the plain average of its B per-batch statistics (the first batch replaces the old
value outright), computed on activations that already carry the recalibrated statistics of
the layers before. No labels and no gradients are used; the weights are not touched.
"""
from __future__ import annotations

import keras
import numpy as np

from .noise import _leaf_layers


class BatchNormRecalibration:
    """Re-estimates the BN statistics of ``model`` from ``images`` (float32 (N, 32, 32, 3)
    model inputs, e.g. training images without labels) in batches of ``batch_size``, and puts
    the statistics it found at construction back on :meth:`restore`.

    Usage: ``recalibrate = BatchNormRecalibration(model, x); noise.apply(...); recalibrate();
    evaluate(); ...; recalibrate.restore()``. A model without BN raises ValueError: there is
    nothing to recalibrate."""

    def __init__(self, model: keras.Model, images: np.ndarray, batch_size: int = 128):
        self.layers = [layer for layer in _leaf_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
        if not self.layers:
            raise ValueError(f"{model.name} has no BN layer: there is nothing to recalibrate")
        if len(images) < 1 or batch_size < 1:
            raise ValueError(f"recalibration needs at least one image and batch_size >= 1, got "
                             f"{len(images)} images, batch_size={batch_size}")
        self.model = model
        self.batches = [keras.ops.convert_to_tensor(images[i: i + batch_size])
                        for i in range(0, len(images), batch_size)]
        self.clean = [(keras.ops.convert_to_numpy(layer.moving_mean), keras.ops.convert_to_numpy(layer.moving_variance))
                      for layer in self.layers]
        self.images = len(images)

    def __call__(self) -> None:
        """Replace every BN layer's moving statistics by their average over the batches."""
        momenta = [layer.momentum for layer in self.layers]
        try:
            for k, batch in enumerate(self.batches):
                for layer in self.layers:
                    layer.momentum = k / (k + 1)
                self.model(batch, training=True)
        finally:
            for layer, momentum in zip(self.layers, momenta):
                layer.momentum = momentum

    def restore(self) -> None:
        """Put back the statistics the model had at construction."""
        for layer, (mean, variance) in zip(self.layers, self.clean):
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(variance)


def calibrated_deployment(model: keras.Model, images: np.ndarray, batch_size: int = 128) -> keras.Model:
    """The crossbar deployment of ``model`` (BN folded into the kernels and biases) with a
    digital per-channel gain and offset (:class:`analognoise.models.OutputCalibration`) after
    every crossbar that ends at a BN site, ready for :class:`BatchNormRecalibration`; each
    passes its input on until recalibrated. A model with BN is folded with ``calibration=True``
    (target mean and variance: those the folded BN gives; "recalibrate, then fold"). A model
    without BN gets one after every conv and dense layer whose output feeds another layer (its
    BN sites; not the classifier), with the target mean and variance of each channel measured
    on the clean network from ``images`` (float32 (N, 32, 32, 3), the calibration pool; the
    average over batches of ``batch_size``, as recalibration averages): the same per-channel
    calibration spent on a network that has no BN. The returned model's own weights are copies."""
    from .models import OutputCalibration, fold_batchnorm

    if any(isinstance(layer, keras.layers.BatchNormalization) for layer in _leaf_layers(model)):
        return fold_batchnorm(model, calibration=True)
    if len(images) < 1:
        raise ValueError("calibrated_deployment needs at least one image to measure the clean statistics")
    sites = [layer.name for layer in model.layers
             if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)) and layer._outbound_nodes]
    probe = keras.Model(model.inputs, [model.get_layer(name).output for name in sites])
    means, variances = {name: [] for name in sites}, {name: [] for name in sites}
    for i in range(0, len(images), batch_size):
        outputs = probe(keras.ops.convert_to_tensor(images[i: i + batch_size]), training=False)
        for name, output in zip(sites, outputs):
            value = keras.ops.convert_to_numpy(output)
            all_but_channels = tuple(range(value.ndim - 1))
            means[name].append(value.mean(axis=all_but_channels))
            variances[name].append(value.var(axis=all_but_channels))
    targets = {name: (np.mean(means[name], axis=0), np.mean(variances[name], axis=0)) for name in sites}

    def call(layer, *args, **kwargs):
        outputs = layer(*args, **kwargs)
        return OutputCalibration(name=f"{layer.name}_calibration")(outputs) if layer.name in targets else outputs

    calibrated = keras.models.clone_model(model, call_function=call)
    for layer in model.layers:
        if layer.weights:
            calibrated.get_layer(layer.name).set_weights(layer.get_weights())
    for name, (mean, variance) in targets.items():
        calibrated.get_layer(f"{name}_calibration").pass_through(mean, variance)
    return calibrated
