"""ResNet v1 for CIFAR (depth 6n+2, optionally widened) and VGG16 for 32x32 inputs, with
explicit BN placement; MobileNetV2 and DenseNet-121 from keras.applications (BN built in).

Every conv layer and every hidden dense layer is a *BN site*, named after the layer (e.g.
``stem_conv``, ``s1_b0_conv1``, ``s2_b0_shortcut``, ``block3_conv2``, ``fc1``). The
classifier is never a site: BN directly before the softmax is in no standard architecture,
nor in the Keras ``cifar10_resnet`` example that the paper's with-BN accuracies match.

``bn`` chooses where BN goes (after the conv/dense, before the activation):

- ``"all"``: at every site (the paper's "BN after every conv and fully connected layer");
- ``"none"``: nowhere;
- ``"first:K"``: at the first K sites in forward order (a *partial* placement); ``"last:K"``
  at the last K; ``"spread:K"`` at K sites spread evenly (:func:`analognoise.params.counted_sites`);
- a list of site names: exactly those (see :func:`analognoise.params.bn_sites` for the names).

All kernels use Glorot-uniform initialisation, as in the paper. Input: float32
(N, 32, 32, 3); output: softmax probabilities (N, num_classes).
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers

from .params import APPLICATIONS, VGG16_DENSE_UNITS, VGG16_STAGES, check_architecture, resolve_bn


def _conv(x, filters, kernel_size, strides, name, bn_at, weight_decay, activation=True,
          zero_init=False):
    """conv -> BN (if ``name`` is a BN site) -> ReLU. ``zero_init``: the block's output starts
    at zero (BN's gamma = 0 where there is BN, else the conv kernel = 0)."""
    regularizer = keras.regularizers.L2(weight_decay) if weight_decay else None
    has_bn = name in bn_at
    x = layers.Conv2D(
        filters, kernel_size, strides=strides, padding="same", name=name,
        kernel_initializer="zeros" if zero_init and not has_bn else "glorot_uniform",
        kernel_regularizer=regularizer,
    )(x)
    if has_bn:
        x = layers.BatchNormalization(name=f"{name}_bn",
                                      gamma_initializer="zeros" if zero_init else "ones")(x)
    if activation:
        x = layers.Activation("relu", name=f"{name}_relu")(x)
    return x


def resnet_v1(depth: int, num_classes: int, bn="all", weight_decay: float = 0.0,
              width: int = 1, zero_init_residual: bool = False, shortcut_bn: bool = True) -> keras.Model:
    """ResNet v1 for CIFAR (He et al. 2016, sec. 4.2): 3 stacks of (depth-2)/6 blocks, 16/32/64
    filters, times ``width`` (a wide ResNet, WRN-depth-width, in the sense of Zagoruyko &
    Komodakis 2016, with v1 post-activation blocks and no dropout).

    Downsampling blocks use a strided 1x1 projection shortcut (as in the Keras example).
    ``zero_init_residual``: the second conv of every residual branch (its BN's gamma, with BN)
    starts at zero, so each block starts as its shortcut. ``shortcut_bn=False``: the projection
    shortcuts are no BN sites (the Keras example's placement).
    """
    bn_at = resolve_bn(bn, "resnet", depth, shortcut_bn)
    blocks = (depth - 2) // 6
    inputs = keras.Input((32, 32, 3), name="image")
    x = _conv(inputs, 16 * width, 3, 1, "stem_conv", bn_at, weight_decay)
    for stack, filters in enumerate((16 * width, 32 * width, 64 * width)):
        for block in range(blocks):
            prefix = f"s{stack}_b{block}"
            strides = 2 if stack > 0 and block == 0 else 1
            y = _conv(x, filters, 3, strides, f"{prefix}_conv1", bn_at, weight_decay)
            y = _conv(y, filters, 3, 1, f"{prefix}_conv2", bn_at, weight_decay, activation=False,
                      zero_init=zero_init_residual)
            if strides != 1:
                x = _conv(x, filters, 1, strides, f"{prefix}_shortcut", bn_at, weight_decay,
                          activation=False)
            x = layers.Activation("relu", name=f"{prefix}_out")(layers.Add(name=f"{prefix}_add")([x, y]))
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="classifier",
                           kernel_initializer="glorot_uniform")(x)
    return keras.Model(inputs, outputs, name=f"resnet{depth}" if width == 1 else f"wrn{depth}_{width}")


def vgg16(num_classes: int, bn="all", weight_decay: float = 0.0) -> keras.Model:
    """VGG16 for 32x32 inputs: the 13 conv layers of Simonyan & Zisserman, then two 512-unit
    dense layers and the classifier (16 weight layers; 512 instead of 4096 units, as is usual
    for CIFAR, since the feature map is 1x1x512 here)."""
    bn_at = resolve_bn(bn, "vgg16")
    inputs = keras.Input((32, 32, 3), name="image")
    x = inputs
    for stage, (filters, convs) in enumerate(VGG16_STAGES, start=1):
        for c in range(1, convs + 1):
            x = _conv(x, filters, 3, 1, f"block{stage}_conv{c}", bn_at, weight_decay)
        x = layers.MaxPooling2D(2, name=f"block{stage}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    regularizer = keras.regularizers.L2(weight_decay) if weight_decay else None
    for i, units in enumerate(VGG16_DENSE_UNITS, start=1):
        name = f"fc{i}"
        x = layers.Dense(units, name=name, kernel_initializer="glorot_uniform",
                         kernel_regularizer=regularizer)(x)
        if name in bn_at:
            x = layers.BatchNormalization(name=f"{name}_bn")(x)
        x = layers.Activation("relu", name=f"{name}_relu")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="classifier",
                           kernel_initializer="glorot_uniform")(x)
    return keras.Model(inputs, outputs, name="vgg16")


def application(arch: str, num_classes: int, bn="all", weight_decay: float = 0.0) -> keras.Model:
    """A keras.applications classifier (MobileNetV2, DenseNet-121) for 32x32 inputs, randomly
    initialised (no pretrained weights), softmax output. BN is built in: ``bn`` must be "all"."""
    resolve_bn(bn, arch)
    if weight_decay:
        raise ValueError(f"weight_decay is not supported for {arch} (keras.applications model)")
    builder = {"mobilenetv2": keras.applications.MobileNetV2,
               "densenet121": keras.applications.DenseNet121}[arch]
    return builder(input_shape=(32, 32, 3), weights=None, classes=num_classes,
                   classifier_activation="softmax")


def build_model(arch: str, depth: int | None, num_classes: int, bn="all",
                weight_decay: float = 0.0, width: int = 1,
                zero_init_residual: bool = False, shortcut_bn: bool = True) -> keras.Model:
    """Build ``arch`` ("resnet" needs ``depth`` and may be widened by ``width``, start its
    residual branches at zero and leave its shortcuts without BN; the others ignore ``depth``)."""
    check_architecture(arch, depth, width)
    if arch == "resnet":
        return resnet_v1(depth, num_classes, bn, weight_decay, width, zero_init_residual, shortcut_bn)
    if arch in APPLICATIONS:
        return application(arch, num_classes, bn, weight_decay)
    return vgg16(num_classes, bn, weight_decay)


class FoldedBatchNorm(layers.Layer):
    """Where a BN layer was, once it is folded into the layer before it: passes its input on."""

    def call(self, inputs, training=None, mask=None):
        return inputs


def bn_follows(model: keras.Model) -> dict[str, layers.BatchNormalization]:
    """Conv/dense layer name -> the BN layer that directly and only follows it."""
    follows = {}
    for layer in model.layers:
        if not isinstance(layer, layers.BatchNormalization):
            continue
        parents = layer._inbound_nodes[0].parent_nodes
        before = parents[0].operation if len(parents) == 1 else None
        if not isinstance(before, (layers.Conv2D, layers.Dense)) or len(before._outbound_nodes) != 1:
            raise ValueError(f"cannot fold {layer.name}: BN folding needs every BN layer directly after a "
                             "conv or dense layer whose output nothing else uses")
        follows[before.name] = layer
    return follows


class OutputCalibration(layers.BatchNormalization):
    """A digital per-channel gain and offset after a crossbar (the per-column output calibration
    of analog chips): in inference a BN layer set to the identity, whose statistics
    :class:`analognoise.recalibration.BatchNormRecalibration` re-estimates after the noisy
    weights are written, so that each channel's output is brought back to its clean mean and
    standard deviation (after a folded BN: those the BN gave it; see :func:`fold_batchnorm` and
    :func:`analognoise.recalibration.calibrated_deployment`). It is digital: no noise targets it."""

    def pass_through(self, mean: np.ndarray, variance: np.ndarray) -> None:
        """Set it to the identity with target ``mean`` and ``variance`` (per channel, shape
        (channels,)): gamma = sqrt(variance + epsilon), beta = moving mean = ``mean``, moving
        variance = ``variance``. Recalibrated to statistics (m, u) of its input y, it then gives
        sqrt(variance + epsilon) * (y - m) / sqrt(u + epsilon) + mean."""
        self.set_weights([(variance + self.epsilon) ** 0.5, mean, mean, variance])


def fold_batchnorm(model: keras.Model, calibration: bool = False) -> keras.Model:
    """The same network with every BN folded into the conv / dense layer before it, as BN is
    deployed on analog crossbars: W' = W * s, b' = (b - mean) * s + beta with
    s = gamma / sqrt(moving_variance + epsilon), per output channel. Works on any functional
    Keras model whose BN layers each follow a conv/dense layer (ours, keras.applications
    models, the CrossSim ResNets); a layer without a bias gets one. Inference outputs are
    unchanged (up to float rounding); the result has no BN layers.

    ``calibration=True``: "recalibrate, then fold". Each BN becomes an :class:`OutputCalibration`
    that passes its input on unchanged until recalibrated (:meth:`OutputCalibration.pass_through`):
    its target mean is beta and its target variance v = gamma^2 * var / (var + epsilon), the mean
    and variance of the folded output when the conv output has the BN's moving statistics.
    Recalibrated to statistics (m, u) of the noisy output y, it gives
    sqrt(v + epsilon) * (y - m) / sqrt(u + epsilon) + beta: the folded channel brought back to
    its clean mean and standard deviation (what recalibrating the unfolded BN and folding again
    gives, except that epsilon is added on the folded scale)."""
    follows = bn_follows(model)

    def clone(layer):
        if isinstance(layer, layers.BatchNormalization):
            if calibration:
                return OutputCalibration.from_config(layer.get_config())
            return FoldedBatchNorm(name=layer.name)
        config = layer.get_config()
        if layer.name in follows:
            config["use_bias"] = True
        return layer.__class__.from_config(config)

    folded = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization) or not layer.weights:
            continue
        weights = [keras.ops.convert_to_numpy(w) for w in layer.weights]
        bn = follows.get(layer.name)
        if bn is not None:
            kernel = weights[0]
            bias = weights[1] if len(weights) > 1 else np.zeros(kernel.shape[-1], kernel.dtype)
            gamma, beta, mean, variance = (keras.ops.convert_to_numpy(w) for w in
                                           (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance))
            scale = gamma / (variance + bn.epsilon) ** 0.5
            weights = [kernel * scale, (bias - mean) * scale + beta]
            if calibration:
                folded.get_layer(bn.name).pass_through(beta, gamma ** 2 * variance / (variance + bn.epsilon))
        folded.get_layer(layer.name).set_weights(weights)
    return folded


def bn_sites(model: keras.Model) -> list:
    """Every BN layer of the model with the conv / dense kernel before it, as
    :class:`analognoise.diagnostics.BNSite` arrays, in the model's layer order (empty without
    BN). Works on any model :func:`fold_batchnorm` folds."""
    from .diagnostics import BNSite

    sites = []
    for name, bn in bn_follows(model).items():
        weights = [keras.ops.convert_to_numpy(w) for w in model.get_layer(name).weights]
        gamma, beta, mean, variance = (keras.ops.convert_to_numpy(w) for w in
                                       (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance))
        sites.append(BNSite(bn.name, weights[0], gamma, beta, mean, variance, float(bn.epsilon),
                            weights[1] if len(weights) > 1 else None))
    return sites


def silence_dead_channels(model: keras.Model, fraction: float | None = None) -> tuple[keras.Model, int]:
    """A copy of the model with every dead BN channel silenced (the surgery of
    :func:`analognoise.diagnostics.silenced`: gamma 0, beta its clean mean output, moving mean /
    variance 0 / 1) and the number of channels silenced. Kernels are unchanged; the clean
    output changes by at most the dead channels' residual variation (the rule bounds it)."""
    from .diagnostics import DEAD_VARIANCE_FRACTION, dead_channels, silenced

    fraction = DEAD_VARIANCE_FRACTION if fraction is None else fraction
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    count = 0
    for site in bn_sites(copy):
        count += int(dead_channels(site, fraction).sum())
        copy.get_layer(site.name).set_weights(list(silenced(site, fraction)))
    return copy, count
