"""Parameters of runs and studies, and their validation, without importing TensorFlow.

Everything here is checked before any compute starts, and is what the workflow, the study
configs and the analysis pages use, so they stay light:

- architectures: the valid choices, BN *sites* (one per conv / hidden dense layer, in forward
  order) and BN placements (``"all"``, ``"none"``, ``"first:K"``, ``"last:K"``, ``"spread:K"``,
  or a list of site names);
- training parameters: defaults, presets, validation, and the run id (a hash of them);
- noise settings: ``targets``, ``scale``, etas, repeats;
- theory settings: the sample pool, batch sizes and step sizes of the section II measurements.
"""
from __future__ import annotations

import hashlib
import json
import math

from . import arguments
from .data import check_dataset_name

#: keras.applications classifiers, built for 32x32 inputs from scratch. BN is built into them
#: (after every conv); their facts (weight layers, BN layers, features entering the classifier)
#: are checked against the built models in the tests.
APPLICATIONS = {
    "mobilenetv2": dict(label="MobileNetV2", weight_layers=53, bn_layers=52, final_channels=1280),
    "densenet121": dict(label="DenseNet-121", weight_layers=121, bn_layers=121, final_channels=1024),
}
ARCHITECTURES = ("resnet", "vgg16", *APPLICATIONS)
VGG16_STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
VGG16_DENSE_UNITS = (512, 512)


def check_architecture(arch: str, depth: int | None = None, width: int = 1) -> None:
    """Raise ValueError, naming the valid choices, for an unknown arch, a bad ResNet depth or a
    width multiplier on anything but a ResNet."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}: choose one of {', '.join(ARCHITECTURES)}")
    if arch == "resnet":
        if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
            raise ValueError(
                f"ResNet depth must be 6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ...), "
                f"got {depth!r}"
            )
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be an integer >= 1 (the ResNet width multiplier), got {width!r}")
    if width != 1 and arch != "resnet":
        raise ValueError(f"width={width} widens a ResNet (wide ResNet); {arch} has a fixed width")


def _resnet_sites(depth: int, shortcut_bn: bool = True) -> list[str]:
    blocks = (depth - 2) // 6
    sites = ["stem_conv"]
    for stack in range(3):
        for block in range(blocks):
            sites += [f"s{stack}_b{block}_conv1", f"s{stack}_b{block}_conv2"]
            if stack > 0 and block == 0 and shortcut_bn:
                sites.append(f"s{stack}_b{block}_shortcut")
    return sites


def _vgg16_sites() -> list[str]:
    convs = [
        f"block{s + 1}_conv{c + 1}" for s, (_, n) in enumerate(VGG16_STAGES) for c in range(n)
    ]
    return convs + [f"fc{i + 1}" for i in range(len(VGG16_DENSE_UNITS))]


def bn_sites(arch: str, depth: int | None = None, shortcut_bn: bool = True) -> list[str]:
    """Names of all BN sites of the architecture, in forward order (ResNet, VGG16; the
    keras.applications models have BN built in and no choosable sites). ``shortcut_bn=False``:
    a ResNet's 1x1 projection shortcuts are no sites (as in the Keras ``cifar10_resnet``
    example: 19 BN layers in ResNet-20, not 21)."""
    check_architecture(arch, depth)
    if arch in APPLICATIONS:
        raise ValueError(f"{arch} has BN built in after every conv: its BN placement cannot be chosen")
    return _resnet_sites(depth, shortcut_bn) if arch == "resnet" else _vgg16_sites()


#: placements of K sites: the first K in forward order, the last K, or K spread evenly
COUNTED_PLACEMENTS = ("first", "last", "spread")


def counted_sites(sites: list[str], where: str, count: int) -> list[str]:
    """``count`` of ``sites`` (forward order): the first, the last, or spread evenly (the first
    and the last site included, the rest at equal steps between; one site: the middle one)."""
    if count == 0:
        return []
    if where == "first":
        return sites[:count]
    if where == "last":
        return sites[len(sites) - count:]
    if count == 1:
        return [sites[(len(sites) - 1) // 2]]
    step = (len(sites) - 1) / (count - 1)
    return [sites[round(i * step)] for i in range(count)]


def resolve_bn(bn, arch: str, depth: int | None = None, shortcut_bn: bool = True) -> frozenset[str]:
    """The set of site names that get BN for a ``bn`` placement (see module docstring and
    :func:`bn_sites`); for a keras.applications model only ``"all"`` (its built-in BN) is valid."""
    if arch in APPLICATIONS:
        check_architecture(arch, depth)
        if bn != "all":
            raise ValueError(f"{arch} has BN built in after every conv: use bn='all', got {bn!r}")
        return frozenset()
    sites = bn_sites(arch, depth, shortcut_bn)
    if bn == "all":
        return frozenset(sites)
    if bn == "none":
        return frozenset()
    if isinstance(bn, str) and bn.split(":", 1)[0] in COUNTED_PLACEMENTS and ":" in bn:
        where, count = bn.split(":", 1)
        if not count.isdigit() or not 0 <= int(count) <= len(sites):
            raise ValueError(f"bn={bn!r}: K in '{where}:K' must be an integer in 0..{len(sites)}")
        return frozenset(counted_sites(sites, where, int(count)))
    if isinstance(bn, (list, tuple, set, frozenset)):
        unknown = sorted(set(bn) - set(sites))
        if unknown:
            raise ValueError(
                f"bn names unknown sites {unknown}; valid sites of {arch}: {', '.join(sites)}"
            )
        return frozenset(bn)
    raise ValueError(
        f"bn={bn!r} is not a placement: use 'all', 'none', 'first:K', 'last:K', 'spread:K' or a list of site names"
    )


def model_label(arch: str, depth: int | None, width: int = 1) -> str:
    """Display name: ResNet-20, WRN-20-4 (ResNet-20 four times as wide), VGG16, MobileNetV2."""
    if arch == "resnet":
        return f"ResNet-{depth}" if width == 1 else f"WRN-{depth}-{width}"
    return APPLICATIONS[arch]["label"] if arch in APPLICATIONS else "VGG16"


def architecture_facts(arch: str, depth: int | None = None, width: int = 1) -> dict:
    """Family, depth (weight layers: conv, depthwise conv and dense, the classifier included;
    ResNet's 1x1 shortcuts not counted) and width (features entering the classifier)."""
    check_architecture(arch, depth, width)
    if arch == "resnet":
        return dict(family="ResNet" if width == 1 else "wide ResNet", weight_layers=depth,
                    final_channels=64 * width)
    if arch == "vgg16":
        return dict(family="VGG", weight_layers=16, final_channels=VGG16_DENSE_UNITS[-1])
    return dict(family=APPLICATIONS[arch]["label"].split("-")[0],
                **{k: APPLICATIONS[arch][k] for k in ("weight_layers", "final_channels")})


SCHEDULES = ("constant", "step", "cosine", "warmup-cosine")
OPTIMIZERS = ("adam", "sgd-nesterov")

DEFAULTS = dict(
    dataset="cifar10", arch="resnet", depth=20, bn="all", epochs=10, batch_size=128,
    learning_rate=1e-3, lr_schedule="step", weight_decay=0.0, augment=True,
    train_subset=None, seed=0,
)

#: parameters stored only when they differ from their default, so run ids made before they
#: existed stay valid:
#:
#: - ``width``: ResNet width multiplier;
#: - ``optimizer``: "adam" or "sgd-nesterov" (SGD, Nesterov momentum 0.9);
#: - ``warmup_epochs``: linear warmup from 0 (``lr_schedule="warmup-cosine"`` only; the
#:   learning rate then follows a cosine to 0, updated every step);
#: - ``label_smoothing``: of the cross-entropy targets (0.1 moves 10% of the mass to uniform);
#: - ``zero_init_residual``: the last layer of every residual branch starts at zero (its BN's
#:   gamma with BN, its conv kernel without), so every block starts as the identity (Goyal et
#:   al. 2017; Fixup, Zhang et al. 2019): what keeps deep ResNets without BN trainable;
#: - ``shortcut_bn``: whether a ResNet's 1x1 projection shortcuts are BN sites (True, this
#:   project's first placement) or not (False: the Keras ``cifar10_resnet`` example the paper
#:   used; the presets choose it); dropped where it changes nothing (no BN, not a ResNet);
#: - ``train_noise``: noise-aware training, the paper's noise at this eta on every trainable
#:   weight at every step (:mod:`analognoise.noise_aware`; 0: none);
#: - ``data_dir``: the dataset copy the run is trained on (a folder holding
#:   ``cifar-10-batches-py/``, relative to the project root); part of the run id, so runs on
#:   different copies (the JPEG round-trip copy, the rebuilt exact copy) never collide.
OPTIONAL = dict(width=1, optimizer="adam", warmup_epochs=0, label_smoothing=0.0,
                zero_init_residual=False, shortcut_bn=True, data_dir=None, train_noise=0.0)

PRESETS = {
    # The Keras cifar10_resnet example (ResNet v1): Adam 1e-3, 200 epochs, batch 32, step
    # decay at epochs 80/120/160/180, L2 1e-4, shifts + flips. The paper's with-BN CIFAR-10
    # accuracies match it.
    "keras-cifar10-resnet": dict(epochs=200, batch_size=32, learning_rate=1e-3,
                                 lr_schedule="step", weight_decay=1e-4, augment=True,
                                 shortcut_bn=False),
    # Time to accuracy on 2 CPU cores: 30 epochs of SGD with Nesterov momentum, 2 epochs of
    # linear warmup to 0.1, then a per-step cosine to 0; label smoothing 0.1; L2 2.5e-4 on the
    # kernels (the gradient 5e-4 x W of the usual "weight decay 5e-4"); shifts and flips; the
    # last layer of every residual branch starts at zero; no BN on the projection shortcuts (as
    # in the Keras example). The same recipe for BN and no BN.
    "fast": dict(epochs=30, batch_size=128, learning_rate=0.1, lr_schedule="warmup-cosine",
                 weight_decay=2.5e-4, augment=True, optimizer="sgd-nesterov", warmup_epochs=2,
                 label_smoothing=0.1, zero_init_residual=True, shortcut_bn=False),
}


def make_params(preset: str | None = None, **overrides) -> dict:
    """Complete, validated training parameters: DEFAULTS <- preset <- overrides."""
    unknown = set(overrides) - set(DEFAULTS) - set(OPTIONAL)
    if unknown:
        raise ValueError(f"unknown training parameters {sorted(unknown)}; valid: {sorted([*DEFAULTS, *OPTIONAL])}")
    if preset and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    params = {**DEFAULTS, **(PRESETS[preset] if preset else {}), **overrides}
    for key, default in OPTIONAL.items():
        if key in params and params[key] == default:
            params.pop(key)
    if params["arch"] != "resnet":
        params["depth"] = None
        if "zero_init_residual" not in overrides:  # a preset's residual-branch init: no branch to apply it to
            params.pop("zero_init_residual", None)
    if isinstance(params["bn"], (list, tuple)):
        params["bn"] = sorted(params["bn"])
    params["bn"] = canonical_bn(params["bn"], params["arch"], params["depth"], params.get("shortcut_bn", True))
    if params["arch"] != "resnet" or params["bn"] == "none":
        params.pop("shortcut_bn", None)  # no shortcut to put BN on: the same run either way
    validate_params(params)
    return params


def canonical_bn(bn, arch: str, depth: int | None = None, shortcut_bn: bool = True):
    """One name per BN placement, so that one network has one run id: a placement of no site
    (``"first:0"``, ``[]``) is ``"none"``, one of every site (``"first:<all>"``, the full list)
    is ``"all"``; any other placement is kept as given (lists sorted by :func:`make_params`)."""
    if arch in APPLICATIONS or bn in ("all", "none"):
        return bn
    chosen = resolve_bn(bn, arch, depth, shortcut_bn)
    if not chosen:
        return "none"
    return "all" if chosen == frozenset(bn_sites(arch, depth, shortcut_bn)) else bn


#: how each training parameter is read from a notebook (papermill passes text as typed)
_READERS = dict(
    dataset=lambda n, v: arguments.text(n, v), arch=lambda n, v: arguments.text(n, v),
    depth=lambda n, v: arguments.integer(n, v, optional=True),
    bn=arguments.placement,
    epochs=lambda n, v: arguments.integer(n, v, 1), batch_size=lambda n, v: arguments.integer(n, v, 1),
    learning_rate=lambda n, v: arguments.number(n, v), lr_schedule=lambda n, v: arguments.choice(n, v, SCHEDULES),
    weight_decay=lambda n, v: arguments.number(n, v, 0), augment=arguments.flag,
    train_subset=lambda n, v: arguments.integer(n, v, 1, optional=True),
    seed=lambda n, v: arguments.integer(n, v, 0), width=lambda n, v: arguments.integer(n, v, 1),
    optimizer=lambda n, v: arguments.choice(n, v, OPTIMIZERS),
    warmup_epochs=lambda n, v: arguments.integer(n, v, 0),
    label_smoothing=lambda n, v: arguments.number(n, v, 0), zero_init_residual=arguments.flag,
    shortcut_bn=arguments.flag,
    train_noise=lambda n, v: arguments.number(n, v, 0),
    data_dir=lambda n, v: arguments.text(n, v, optional=True),
)


def notebook_params(preset: str = "", **values) -> dict:
    """Parameters from a notebook's parameters cell (values as papermill passes them: text
    such as ``"3"`` or ``"first:2"`` is read as its type, and a bad value is refused naming
    the parameter). A named preset sets its own keys, except where the notebook's value differs
    from the notebook's default (:data:`DEFAULTS`, :data:`OPTIONAL`): a value the user typed
    beside the preset overrides it for that key (printed, and part of the run id, so the run is
    another one). A typed value equal to the default cannot be told from no value: the preset's
    holds then (pass ``preset=""`` and every value to be explicit)."""
    values = {k: _READERS[k](k, v) if k in _READERS else v for k, v in values.items()}
    if preset:
        make_params(preset)  # checks the name
        defaults = {**DEFAULTS, **OPTIONAL}
        typed = {k: v for k, v in values.items() if k in PRESETS[preset] and k in defaults and v != defaults[k]}
        for key, value in typed.items():
            if value != PRESETS[preset][key]:
                print(f"preset {preset!r} with {key}={value!r} (the preset's {key} is {PRESETS[preset][key]!r})")
        values = {k: v for k, v in values.items() if k not in PRESETS[preset] or k in typed}
    return make_params(preset or None, **values)


def validate_params(params: dict) -> None:
    """Raise ValueError for any bad training parameter, before any compute."""
    check_dataset_name(params["dataset"])
    check_architecture(params["arch"], params["depth"], params.get("width", 1))
    resolve_bn(params["bn"], params["arch"], params["depth"], params.get("shortcut_bn", True))
    for key in ("epochs", "batch_size"):
        if not isinstance(params[key], int) or params[key] < 1:
            raise ValueError(f"{key} must be an integer >= 1, got {params[key]!r}")
    if not (isinstance(params["learning_rate"], (int, float)) and params["learning_rate"] > 0):
        raise ValueError(f"learning_rate must be > 0, got {params['learning_rate']!r}")
    if params["lr_schedule"] not in SCHEDULES:
        raise ValueError(f"unknown lr_schedule {params['lr_schedule']!r}: choose one of {SCHEDULES}")
    if params["weight_decay"] < 0:
        raise ValueError(f"weight_decay must be >= 0, got {params['weight_decay']!r}")
    subset = params["train_subset"]
    if subset is not None and (not isinstance(subset, int) or subset < 1):
        raise ValueError(f"train_subset must be None or an integer >= 1, got {subset!r}")
    optional = {**OPTIONAL, **{k: v for k, v in params.items() if k in OPTIONAL}}
    if optional["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optional['optimizer']!r}: choose one of {OPTIMIZERS}")
    warmup = optional["warmup_epochs"]
    if not isinstance(warmup, int) or not 0 <= warmup < params["epochs"]:
        raise ValueError(f"warmup_epochs must be an integer in 0..epochs-1, got {warmup!r}")
    if warmup and params["lr_schedule"] != "warmup-cosine":
        raise ValueError(f"warmup_epochs={warmup} needs lr_schedule='warmup-cosine', "
                         f"got {params['lr_schedule']!r}")
    smoothing = optional["label_smoothing"]
    if not isinstance(smoothing, (int, float)) or not 0 <= smoothing < 1:
        raise ValueError(f"label_smoothing must be in [0, 1), got {smoothing!r}")
    if not isinstance(optional["shortcut_bn"], bool):
        raise ValueError(f"shortcut_bn must be true or false, got {optional['shortcut_bn']!r}")
    if not isinstance(optional["zero_init_residual"], bool):
        raise ValueError(f"zero_init_residual must be true or false, got {optional['zero_init_residual']!r}")
    if optional["zero_init_residual"] and params["arch"] != "resnet":
        raise ValueError("zero_init_residual=True needs a ResNet (it zeroes the last layer of "
                         f"each residual branch); {params['arch']} has none")
    noise = optional["train_noise"]
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise < 1:
        raise ValueError(f"train_noise must be a noise factor eta in [0, 1) (0.1 = 10%), got {noise!r}")
    if optional["data_dir"] is not None and not isinstance(optional["data_dir"], str):
        raise ValueError(f"data_dir must be a folder path (text) or None, got {optional['data_dir']!r}")


def bn_tag(bn) -> str:
    """Short text for a BN placement: all, none, first3, or custom<hash>."""
    if isinstance(bn, str):
        return bn.replace(":", "")
    return "custom" + hashlib.sha256(json.dumps(sorted(bn)).encode()).hexdigest()[:6]


def run_id(params: dict) -> str:
    """Readable prefix + short hash of the complete parameters, e.g. cifar10-resnet20-bnall-1a2b3c4d."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    model = params["arch"]
    if model == "resnet":
        model = f"resnet{params['depth']}" if params.get("width", 1) == 1 else f"wrn{params['depth']}-{params['width']}"
    return f"{params['dataset']}-{model}-bn{bn_tag(params['bn'])}-{digest}"


TARGETS = {
    "kernels": frozenset({"kernel"}),
    "kernels+biases": frozenset({"kernel", "bias"}),
    "trainable": frozenset({"kernel", "bias", "bn_gamma", "bn_beta", "other_trainable"}),
    "all": frozenset({"kernel", "bias", "bn_gamma", "bn_beta", "other_trainable",
                      "bn_moving_mean", "bn_moving_variance", "other_state"}),
    # kernels and biases of the network with BN folded into them (models.fold_batchnorm)
    "folded": frozenset({"kernel", "bias"}),
}
#: without any BN layer these targets select the same tensors (kernels and biases) in the same
#: order, so their noise draws and results are identical
_SAME_WITHOUT_BN = frozenset({"kernels+biases", "trainable", "all", "folded"})


def same_noise_targets(a: str, b: str, bn) -> bool:
    """Whether noise targets ``a`` and ``b`` hit exactly the same tensors of a model with
    BN placement ``bn``."""
    return a == b or (bn == "none" and {a, b} <= _SAME_WITHOUT_BN)


SCALES = ("tensor", "layer")
PAPER_ETAS = (0.0, 0.01, 0.1, 0.2, 0.3, 0.4)


def validate_noise_params(etas, repeats, targets="trainable", scale="tensor") -> list[float]:
    """Check noise settings before any compute; returns etas as sorted unique floats."""
    if isinstance(etas, (int, float)):
        etas = [etas]
    etas = [float(e) for e in etas]
    if not etas:
        raise ValueError("etas is empty: give at least one noise level, e.g. [0, 0.1]")
    bad = [e for e in etas if not math.isfinite(e) or e < 0]
    if bad:
        raise ValueError(f"etas: every eta must be a finite fraction >= 0 (0.1 = 10%), got {bad}")
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1 (noise draws per level), got {repeats!r}")
    if targets not in TARGETS:
        raise ValueError(f"unknown targets {targets!r}: choose one of {', '.join(TARGETS)}")
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: choose one of {', '.join(SCALES)}")
    return sorted(set(etas))


THEORY_DEFAULTS = dict(pool=512, batch_sizes=[8, 32, 128], batches=10,
                       step_sizes=[0.01, 0.02, 0.05, 0.1, 0.2, 0.4], smoothness_batch=128,
                       checkpoints="all", seed=0)


def validate_theory_params(settings: dict) -> dict:
    """THEORY_DEFAULTS <- settings, checked; raises ValueError naming the bad setting."""
    unknown = set(settings) - set(THEORY_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown theory settings {sorted(unknown)}; valid: {', '.join(THEORY_DEFAULTS)}")
    merged = {**THEORY_DEFAULTS, **settings}
    if not all(isinstance(b, int) and 1 <= b <= merged["pool"] for b in merged["batch_sizes"]):
        raise ValueError(f"batch_sizes must be integers in 1..pool ({merged['pool']}), got {merged['batch_sizes']}")
    if merged["batches"] < 2 or merged["smoothness_batch"] < 1:
        raise ValueError("batches must be >= 2 and smoothness_batch >= 1")
    if merged["checkpoints"] not in ("all", "last"):
        raise ValueError(f"checkpoints must be 'all' or 'last', got {merged['checkpoints']!r}")
    if not all(s > 0 for s in merged["step_sizes"]):
        raise ValueError(f"step_sizes must be > 0, got {merged['step_sizes']}")
    return merged
