"""Per-layer sensitivity: sites, one layer at a time and all but one, paired with the full trials."""
import keras
import numpy as np
import pytest

from analognoise import noise
from analognoise.models import build_model, fold_batchnorm
from analognoise.sensitivity import layer_sensitivity, noise_sites


def test_sites_pair_each_weight_layer_with_its_bn_in_forward_order(untrained_resnet8):
    model = untrained_resnet8
    sites = noise_sites(model)
    weight_layers = [layer.name for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    assert sites.site.tolist() == weight_layers and sites.depth.tolist() == list(range(1, len(weight_layers) + 1))
    stem = sites.iloc[0]
    assert stem.site == "stem_conv" and stem.layers == ["stem_conv", "stem_conv_bn"] and stem.kind == "conv"
    assert sites.iloc[-1].kind == "dense" and sites.iloc[-1].layers == ["classifier"]
    assert noise_sites(fold_batchnorm(model)).site.tolist() == weight_layers  # same sites once folded


def test_one_site_at_a_time_and_all_but_one(untrained_resnet8, random_inputs):
    model = untrained_resnet8
    table = layer_sensitivity(model, *random_inputs, eta=0.5, repeats=2, run_id="r", progress=False)
    sites = noise_sites(model)
    assert len(table) == len(sites) * 2 * 2 and set(table["mode"]) == {"only", "all_but"}
    assert table.clean_accuracy.nunique() == 1
    # an "only" trial is the full-model trial restricted to the site: same seeds, same draws
    full = noise.noise_grid(model, *random_inputs, etas=[0.5], repeats=2, run_id="r", progress=False,
                            layers={"stem_conv", "stem_conv_bn"})
    only = table[(table.site == "stem_conv") & (table["mode"] == "only")]
    assert only.accuracy.tolist() == full.accuracy.tolist()
    with pytest.raises(ValueError, match="modes"):
        layer_sensitivity(model, *random_inputs, modes=["some"])
