import keras
import numpy as np
import pytest

from analognoise import params
from analognoise.models import build_model
from analognoise.params import APPLICATIONS, architecture_facts, bn_sites, resolve_bn


def bn_layers(model):
    return [layer.name for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


@pytest.mark.parametrize("depth, he_et_al", [(20, 0.27e6), (32, 0.46e6), (44, 0.66e6), (56, 0.85e6)])
def test_resnet_parameter_counts_match_the_standard_models(depth, he_et_al):
    count = build_model("resnet", depth, 10, "all").count_params()
    # the Keras cifar10_resnet example (v1, projection shortcuts): 274,442 for ResNet-20 and
    # 195,776 more per 12 layers; ours adds BN on the two projection shortcuts (4 x (32 + 64))
    keras_example = 274_442 + (depth - 20) // 12 * 195_776
    assert count == keras_example + 384
    # He et al. 2016, table 6, rounded to 0.01M (their option-A shortcuts have no weights)
    assert abs(count - he_et_al) / he_et_al < 0.03


def test_vgg16_has_13_convs_and_3_dense_layers():
    model = build_model("vgg16", None, 100, "none")
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert len(convs) == 13 and len(dense) == 3
    # 14.71M conv + 0.26M + 0.26M dense + 51.3k classifier
    assert abs(model.count_params() - 15.29e6) / 15.29e6 < 0.01


@pytest.mark.parametrize("arch, depth, sites", [("resnet", 20, 21), ("resnet", 56, 57), ("vgg16", None, 15)])
def test_bn_placements(arch, depth, sites):
    assert len(bn_sites(arch, depth)) == sites
    assert len(bn_layers(build_model(arch, depth, 10, "all"))) == sites
    assert bn_layers(build_model(arch, depth, 10, "none")) == []
    assert len(bn_layers(build_model(arch, depth, 10, "first:3"))) == 3
    chosen = bn_sites(arch, depth)[-2:]
    assert bn_layers(build_model(arch, depth, 10, chosen)) == [f"{s}_bn" for s in chosen]


def test_output_is_a_distribution_over_classes():
    model = build_model("resnet", 8, 100, "all")
    probs = model(np.zeros((2, 32, 32, 3), "float32"), training=False)
    assert probs.shape == (2, 100)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(probs).sum(1), 1, rtol=1e-5)


def test_kernels_are_glorot_uniform():
    model = build_model("resnet", 8, 10, "none")
    kernel = model.get_layer("s2_b0_conv2").kernel.numpy()
    fan_in, fan_out = 3 * 3 * 64, 3 * 3 * 64
    limit = np.sqrt(6 / (fan_in + fan_out))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.95 * limit


@pytest.mark.parametrize("arch, depth, bn, message", [
    ("resnet", 21, "all", "6n\\+2"),
    ("resnet", 2, "all", "6n\\+2"),
    ("resnot", 20, "all", "resnet, vgg16"),
    ("resnet", 20, ["no_such_layer"], "valid sites"),
    ("resnet", 20, "first:x", "first:K"),
    ("resnet", 20, "some", "not a placement"),
])
def test_bad_model_requests_are_refused_with_the_choices(arch, depth, bn, message):
    with pytest.raises(ValueError, match=message):
        build_model(arch, depth, 10, bn)
    with pytest.raises(ValueError):
        resolve_bn(bn, arch, depth)


def _weight_layers(model):
    kinds = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)
    return [layer for layer in model.layers if isinstance(layer, kinds)]


@pytest.mark.parametrize("arch", sorted(APPLICATIONS))
def test_keras_applications_for_32x32_match_their_stated_facts(arch):
    model = build_model(arch, None, 10, "all")
    facts = APPLICATIONS[arch]
    assert model.output_shape == (None, 10)
    assert len(_weight_layers(model)) == facts["weight_layers"] == architecture_facts(arch)["weight_layers"]
    assert len(bn_layers(model)) == facts["bn_layers"]
    assert _weight_layers(model)[-1].input.shape[-1] == facts["final_channels"]  # into the classifier
    with pytest.raises(ValueError, match="BN built in"):
        build_model(arch, None, 10, "none")


def test_wide_resnet_widens_every_layer_and_keeps_the_bn_sites():
    narrow, wide = build_model("resnet", 8, 10, "all"), build_model("resnet", 8, 10, "all", width=4)
    assert [layer.name for layer in _weight_layers(wide)] == [layer.name for layer in _weight_layers(narrow)]
    assert len(_weight_layers(wide)) == architecture_facts("resnet", 8, 4)["weight_layers"] + 2  # + 2 shortcuts
    assert wide.get_layer("s2_b0_conv2").kernel.shape[-1] == 64 * 4 == architecture_facts("resnet", 8, 4)["final_channels"]
    assert bn_layers(wide) == bn_layers(narrow)
    with pytest.raises(ValueError, match="fixed width"):
        build_model("vgg16", None, 10, "all", width=2)


def test_the_keras_example_placement_leaves_the_projection_shortcuts_without_bn():
    """The Keras cifar10_resnet v1 example (the paper's recipe) has BN after every conv of the
    residual branches and the stem, none on the 1x1 projection shortcuts: 19 BN layers in
    ResNet-20 (21 with shortcut BN, this project's first placement)."""
    keras_example = build_model("resnet", 20, 10, "all", shortcut_bn=False)
    assert len(bn_layers(keras_example)) == 19 == len(bn_sites("resnet", 20, shortcut_bn=False))
    assert len(bn_layers(build_model("resnet", 20, 10, "all"))) == 21
    assert not [n for n in bn_layers(keras_example) if "shortcut" in n]
    assert params.make_params(preset="fast")["shortcut_bn"] is False
    assert params.make_params(preset="keras-cifar10-resnet")["shortcut_bn"] is False
    # without BN (or outside ResNets) the choice changes nothing, so it is not in the run id
    assert params.run_id(params.make_params(bn="none", shortcut_bn=False)) == params.run_id(params.make_params(bn="none"))
    assert "shortcut_bn" not in params.make_params(arch="vgg16", shortcut_bn=False)


def test_zero_initialised_residual_branches_start_as_their_shortcut():
    import numpy as np

    for bn in ("all", "none"):
        model = build_model("resnet", 8, 10, bn, zero_init_residual=True, shortcut_bn=False)
        last = model.get_layer("s0_b0_conv2_bn").gamma if bn == "all" else model.get_layer("s0_b0_conv2").kernel
        assert not np.any(np.asarray(last)), f"bn={bn}: the branch's last layer starts at zero"
        assert np.any(np.asarray(model.get_layer("s0_b0_conv1").kernel)), "the first layer does not"
