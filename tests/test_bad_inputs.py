"""Thirty-odd bad inputs a user can give, in one place: notebook parameters, every kind of config,
dataset files and model files. Each is refused before any compute with a message that names the
culprit (the parameter, key or file) and the fix, and nothing is written where results would go.

Each case is ``(id, make)``: ``make(tmp_path, data_root)`` sets the bad input up and returns
``(call, source)``; ``call(out)`` runs the entry point a user would run, writing (were it to
succeed) into ``out``; ``source`` is the config file the message must name (None: no file);
each case's ``pattern`` is a regular expression the error message must match.
"""
import json
import re
import pickle

import numpy as np
import pytest
import yaml

from analognoise import arguments, bnsearch, data, devicenoise, external, mechanism, params, studies
from analognoise.paths import project_root

from conftest import write_cifar10

ROOT = project_root()


def _yaml(tmp_path, name, config):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _committed(relative):
    return yaml.safe_load((ROOT / relative).read_text())


def _config(committed, run):
    """Cases that change a committed config (``change(config)``), write it, and run it as
    ``run(path, out, tmp_path)``; the message must name the written file."""
    def cases(change):
        def make(tmp_path, data_root):
            config = _committed(committed)
            change(config)
            path = _yaml(tmp_path, "bad-config", config)
            return (lambda out: run(path, out, tmp_path)), path
        return make
    return cases


# -- study configs (studies/<name>.yaml): checked when the study is loaded, as `snakemake -n` does
_study = _config("studies/smoke.yaml", lambda path, out, tmp: studies.expand(studies.load_study(str(path))))


def _set(section, key, value):
    def change(config):
        (config.setdefault(section, {}) if section else config)[key] = value
    return change


def _rename(section, old, new):
    def change(config):
        target = config[section] if section else config
        target[new] = target.pop(old)
    return change


STUDY_CASES = [
    ("study: misspelt top-level key", _rename(None, "noise", "nosie"), r"unknown key `nosie` \(did you mean `noise`\?\)"),
    ("study: misspelt training key", _set("training", "epoch", 3), r"`training.epoch` \(did you mean `epochs`\?\)"),
    ("study: unknown preset", _set("training", "preset", "fats"), r"unknown preset `fats` \(did you mean `fast`\?\)"),
    ("study: zero noise repeats", _set("noise", "repeats", 0), r"`noise.repeats`: Input should be greater than or equal to 1"),
    ("study: negative noise level", _set("noise", "etas", [-0.1, 0.1]), r"etas.*-0.1"),
    ("study: impossible ResNet depth", _set("grid", "model", ["resnet21"]), r"ResNet depth must be 6n\+2.*got 21"),
    ("study: unknown weights choice", _set(None, "weights", "some"), r"`weights`: Input should be 'all', 'front' or 'none'"),
    ("study: negative commit cap", _set("commit", "max_file_mb", -1), r"`commit.max_file_mb`: Input should be greater than 0"),
    ("study: unknown noise target", _set("noise", "targets", "weights"), r"weights"),
]


# -- device-noise configs (studies/device/<name>.yaml), run by `make device`
_device = _config("studies/device/paper-accuracy-device.yaml",
                  lambda path, out, tmp: devicenoise.evaluate(path, out, tmp / "work"))


DEVICE_CASES = [
    ("device: misspelt key", _rename(None, "noise_models", "noise_modles"),
     r"unknown key `noise_modles` \(did you mean `noise_models`\?\)"),
    ("device: misspelt sensitivity key", lambda c: c["sensitivity"].update(mode=c["sensitivity"].pop("modes")),
     r"unknown key `sensitivity.mode` \(did you mean `modes`\?\)"),
    ("device: unknown recalibration target", lambda c: c["recalibration"].update(targets=["weights"]),
     r"recalibration targets \['weights'\]: choose from"),
    ("device: run not committed", _set(None, "runs", ["cifar10-resnet20-bnall-00000000"]),
     r"no committed weights for \['cifar10-resnet20-bnall-00000000'\].*make commit-runs STUDY=paper-accuracy"),
    ("device: unknown noise model", lambda c: c["noise_models"][0].update(noise_model="gaussian"),
     r"noise_model name 'gaussian' is unknown"),
]


# -- pretrained-models configs (studies/pretrained/<name>.yaml), run by `make pretrained`
_pretrained = _config("studies/pretrained/crosssim-keras-resnet.yaml",
                      lambda path, out, tmp: external.evaluate_models(path, out, tmp / "work"))


PRETRAINED_CASES = [
    ("pretrained: misspelt noise key", lambda c: c["noise"].update(repeat=c["noise"].pop("repeats")),
     r"unknown key `noise.repeat` \(did you mean `repeats`\?\)"),
    ("pretrained: unknown dataset", _set(None, "dataset", "cifar11"), r"`dataset`: Input should be 'cifar10' or 'cifar100'"),
    ("pretrained: missing model file", _set(None, "models", ["no/such/model.keras"]),
     r"model_file .*no/such/model.keras does not exist"),
]


# -- mechanism configs (studies/mechanism/<name>.yaml), run by `make mechanism`
_mechanism = _config("studies/mechanism/interventions.yaml",
                     lambda path, out, tmp: mechanism.evaluate(path, out, tmp / "work"))


MECHANISM_CASES = [
    ("mechanism: unknown variant", lambda c: c["conditions"][0].update(variant="pruned"),
     r"`conditions.0.variant`: Input should be 'original' or 'silenced'"),
    ("mechanism: model with two sources", lambda c: c["models"][0].update(study="paper-accuracy", run="x"),
     r"`models.0`: .*either `study` and `run` .* or `file`"),
    ("mechanism: repeats missing", lambda c: c.pop("repeats"), r"`repeats` is missing"),
    ("mechanism: duplicate model names", lambda c: c["models"][1].update(name=c["models"][0]["name"]),
     r"unique 'name'"),
]


# -- BN-search configs (studies/bnsearch/<name>.yaml), run by `make bn-search`
_search = _config("studies/bnsearch/vgg16-cifar10.yaml", lambda path, out, tmp: bnsearch.run_search(path, dest=out))


SEARCH_CASES = [
    ("bn search: preset in confirm", lambda c: c["confirm"].update(preset="fast"),
     r"unknown training parameter `confirm.preset`"),
    ("bn search: misspelt training key", lambda c: c["training"].update(learning_rat=0.1),
     r"`training.learning_rat` \(did you mean `learning_rate`\?\)"),
    ("bn search: upper below 1", _set(None, "upper", 0), r"`upper`: Input should be greater than or equal to 1"),
]


# -- dataset files
def _damaged(damage):
    def make(tmp_path, data_root):
        root = write_cifar10(tmp_path / "copy")
        damage(root / "cifar-10-batches-py")
        return (lambda out: data.load_cifar("cifar10", root, download=False)), None
    return make


def _record_checksums_then_append(folder):
    import hashlib
    record = {"md5": {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}}
    (folder / "SOURCE.json").write_text(json.dumps(record))
    with open(folder / "test_batch", "ab") as f:
        f.write(b"x")


DATA_CASES = [
    ("data: truncated batch", lambda f: (f / "data_batch_2").write_bytes((f / "data_batch_2").read_bytes()[:1000]),
     r"data_batch_2.*not a readable CIFAR batch.*rebuild.py"),
    ("data: batch not a pickle", lambda f: (f / "data_batch_1").write_text("not a pickle"),
     r"data_batch_1.*not a readable CIFAR batch"),
    ("data: batch of the wrong shape", lambda f: (f / "test_batch").write_bytes(pickle.dumps(
        {b"data": np.zeros((5, 100), np.uint8), b"labels": [0] * 5})), r"test_batch.*expected uint8 images of shape"),
    ("data: checksum differs from SOURCE.json", _record_checksums_then_append, r"test_batch: MD5 .* SOURCE.json records"),
    ("data: batch file missing", lambda f: (f / "data_batch_4").unlink(), r"cifar10|CIFAR-10"),
]


# -- model files (the evaluate_model notebook and `make pretrained`)
def _model_file(write):
    def make(tmp_path, data_root):
        path = write(tmp_path)
        return (lambda out: external.evaluate_model(path, "cifar10", "per_pixel_mean", [0.0, 0.1], 1,
                                                    data_dir=data_root, output=out / "noise.csv")), None
    return make


def _text_as_model(tmp_path):
    path = tmp_path / "notes.keras"
    path.write_text("not a model")
    return path


def _wrong_input_model(tmp_path):
    import keras
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.save(tmp_path / "mnist.keras")
    return tmp_path / "mnist.keras"


def _code_carrying_model(tmp_path):
    import keras
    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Dense(10)(keras.layers.Flatten()(keras.layers.Lambda(lambda t: t * 2.0)(inputs)))
    keras.Model(inputs, outputs).save(tmp_path / "lambda.keras")
    return tmp_path / "lambda.keras"


def _weights_only(tmp_path):
    path = tmp_path / "model.weights.h5"
    path.write_bytes(b"\x89HDF")
    return path


MODEL_CASES = [
    ("model: text file named .keras", _text_as_model, r"model_file notes.keras is not a Keras model"),
    ("model: wrong input shape", _wrong_input_model, r"model_file mnist.keras: its input is .*not 32x32x3"),
    ("model: file carrying code", _code_carrying_model, r"model_file lambda.keras is not a Keras model.*"),
    ("model: weights-only file", _weights_only, r"model_file model.weights.h5: expected a Keras model file"),
]


# -- notebook parameters (papermill -p ...): the functions the notebooks' first cells call
NOTEBOOK_CASES = [
    ("notebook: epochs not a number", lambda: params.notebook_params("", epochs="abc"), r"parameter epochs='abc'"),
    ("notebook: negative noise level", lambda: arguments.numbers("etas", "-0.1,0.2", minimum=0.0),
     r"parameter etas=.*-0.1.*e.g. papermill"),
    ("notebook: BN on more sites than the network has", lambda: params.notebook_params("", depth=20, bn="first:99"),
     r"first:99"),
    ("notebook: empty test subset", lambda: arguments.test_images("test_subset", "first:0"), r"test_subset"),
    ("notebook: unknown preset", lambda: params.notebook_params("fats"), r"fats"),
]


def _notebook(call):
    def make(tmp_path, data_root):
        return (lambda out: call()), None
    return make


CASES = ([(name, _study(change), pattern) for name, change, pattern in STUDY_CASES]
         + [(name, _device(change), pattern) for name, change, pattern in DEVICE_CASES]
         + [(name, _pretrained(change), pattern) for name, change, pattern in PRETRAINED_CASES]
         + [(name, _mechanism(change), pattern) for name, change, pattern in MECHANISM_CASES]
         + [(name, _search(change), pattern) for name, change, pattern in SEARCH_CASES]
         + [(name, _damaged(damage), pattern) for name, damage, pattern in DATA_CASES]
         + [(name, _model_file(write), pattern) for name, write, pattern in MODEL_CASES]
         + [(name, _notebook(call), pattern) for name, call, pattern in NOTEBOOK_CASES])


def test_there_are_at_least_thirty_cases():
    assert len(CASES) >= 30 and len({name for name, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize("make, pattern", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_bad_input_is_refused_naming_the_culprit_and_nothing_is_written(tmp_path, data_root, make, pattern):
    call, source = make(tmp_path, data_root)
    out = tmp_path / "out"
    with pytest.raises((ValueError, FileNotFoundError)) as error:
        call(out)
    message = str(error.value)
    assert re.search(pattern, message, flags=re.S), message
    assert source is None or str(source) in message, f"the file is named: {message}"
    assert not out.exists(), "nothing is written where results would go"
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())
