"""Notebook parameters as a reader types them (papermill passes -p values as text)."""
import pytest

from analognoise import arguments, params


@pytest.mark.parametrize("typed, value", [
    ("[0,0.1]", [0.0, 0.1]), ("[-0, 0.2, 0.4]", [0.0, 0.2, 0.4]), ("0.1,0.2", [0.1, 0.2]),
    ("0.3", [0.3]), (0.3, [0.3]), ([0, 0.1], [0.0, 0.1]),
])
def test_lists_of_numbers_in_every_form_a_reader_types(typed, value):
    assert arguments.numbers("etas", typed, minimum=0) == value


@pytest.mark.parametrize("typed, message", [
    ("[-0.1,0.1]", "etas=.*>= 0.*-y \"etas: \[0,0.1,0.2\]\""), ("abc", "etas='abc'"), ("[]", "etas"),
    ("0.1,x", "etas"), (None, "etas"), ("[0.1, nan]", "etas"),
])
def test_bad_lists_name_the_parameter_and_a_working_form(typed, message):
    with pytest.raises(ValueError, match=message):
        arguments.numbers("etas", typed, minimum=0)


@pytest.mark.parametrize("check, typed, expected", [
    (lambda v: arguments.integer("seed", v, 0), "3", 3),
    (lambda v: arguments.integer("train_subset", v, 1, optional=True), "None", None),
    (lambda v: arguments.integer("repeats", v, 1), 5.0, 5),
    (lambda v: arguments.number("learning_rate", v), "1e-3", 1e-3),
    (lambda v: arguments.flag("augment", v), "false", False),
    (lambda v: arguments.test_images("test_subset", v), "first:1000", "first:1000"),
    (lambda v: arguments.test_images("test_subset", v), "500", 500),
    (lambda v: arguments.placement("bn", v), "[stem_conv, s0_b0_conv1]", ["stem_conv", "s0_b0_conv1"]),
    (lambda v: arguments.placement("bn", v), "first:3", "first:3"),
])
def test_values_typed_as_text_are_read_as_their_type(check, typed, expected):
    assert check(typed) == expected


@pytest.mark.parametrize("check, typed, message", [
    (lambda v: arguments.integer("seed", v, 0), "abc", "seed='abc': expected an integer >= 0"),
    (lambda v: arguments.integer("repeats", v, 1), "0", "repeats=0: expected an integer >= 1"),
    (lambda v: arguments.integer("repeats", v, 1), True, "repeats=True"),
    (lambda v: arguments.number("learning_rate", v), "fast", "learning_rate='fast'"),
    (lambda v: arguments.flag("augment", v), "maybe", "augment='maybe': expected true or false"),
    (lambda v: arguments.test_images("test_subset", v), "first:x", "test_subset='first:x'"),
    (lambda v: arguments.text("run_dir", v), "", "run_dir='': expected text"),
    (lambda v: arguments.choice("checkpoints", v, ("all", "last")), "some", "checkpoints='some'.*all, last"),
])
def test_bad_values_name_the_parameter(check, typed, message):
    with pytest.raises(ValueError, match=message):
        check(typed)


def test_training_parameters_from_a_notebook_accept_text_and_refuse_bad_values():
    p = params.notebook_params("", depth="32", epochs="3", bn="none", learning_rate="0.01",
                               augment="false", seed="2", train_subset="None")
    assert (p["depth"], p["epochs"], p["learning_rate"], p["augment"], p["seed"]) == (32, 3, 0.01, False, 2)
    with pytest.raises(ValueError, match="seed='abc'"):
        params.notebook_params("", seed="abc")
    with pytest.raises(ValueError, match="lr_schedule='linear'.*constant, step"):
        params.notebook_params("", lr_schedule="linear")
