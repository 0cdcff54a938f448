import copy
from pathlib import Path

import pytest
import yaml

from analognoise import studies


def test_the_shipped_profiles_expand():
    assert [c.variant for c in studies.expand(studies.load_study("quick"))] == ["BN", "no BN"]
    smoke = studies.expand(studies.load_study("smoke"))
    assert {c.model for c in smoke} == {"ResNet-8"} and smoke[0].noise["repeats"] == 2
    paper = studies.expand(studies.load_study("paper"))
    assert len(paper) == 20
    bn = {(c.params["dataset"], c.model): c.params["bn"] for c in paper if c.params["bn"] != "all"}
    assert bn[("cifar10", "VGG16")] == "first:2" and bn[("cifar10", "ResNet-20")] == "none"
    assert all(bn[("cifar100", m)] == "first:2" for m in ("ResNet-20", "ResNet-56", "VGG16"))
    assert all(c.params["epochs"] == 200 and c.params["batch_size"] == 32 for c in paper)


def test_adding_an_eta_keeps_every_run_and_adding_a_depth_adds_one():
    config = studies.load_study("quick")
    ids = [c.run_id for c in studies.expand(config)]
    more_noise = copy.deepcopy(config)
    more_noise["noise"]["etas"].append(0.5)
    assert [c.run_id for c in studies.expand(more_noise)] == ids
    deeper = copy.deepcopy(config)
    deeper["grid"]["model"].append("resnet32")
    new_ids = [c.run_id for c in studies.expand(deeper)]
    assert set(ids) < set(new_ids) and len(new_ids) == 4


@pytest.mark.parametrize("change, message", [
    (lambda c: c["grid"].update(model=["resnet21"]), "6n\\+2"),
    (lambda c: c["grid"].update(model=["alexnet"]), "resnet<depth>"),
    (lambda c: c["noise"].update(etas=[-1]), "eta must be"),
    (lambda c: c["noise"].update(sigma=1), "unknown key `noise.sigma`"),
    (lambda c: c["noise"].update(noise_model="drift"), "noise_model name 'drift' is unknown"),
    (lambda c: c["noise"].update(noise_model={"name": "pcm", "nu": 0.1}), "has no setting nu"),
    (lambda c: c["grid"].pop("seed"), "needs seed"),
    (lambda c: c["grid"].update(bn=["all", "all"]), "same run twice"),
    (lambda c: c.update(weights="pareto"), "`weights`: Input should be .all., .front. or .none."),
])
def test_bad_study_configs_are_refused(tmp_path, change, message):
    config = yaml.safe_load(studies.study_path("smoke").read_text())
    change(config)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match=message):
        studies.load_study(path)


def test_unknown_study_name_lists_the_profiles():
    with pytest.raises(ValueError, match="paper, paper-accuracy, quick, smoke"):
        studies.load_study("fast")


def test_notebook_parameters_of_a_cell():
    cell = studies.expand(studies.load_study("quick"))[0]
    assert studies.train_parameters(cell)["train_subset"] == 10000
    noise = studies.noise_parameters(cell)
    assert noise["run_dir"] == f"data/runs/{cell.run_id}" and noise["repeats"] == 10


def test_a_study_picks_its_noise_model_and_the_noise_step_gets_it(tmp_path):
    config = yaml.safe_load(studies.study_path("smoke").read_text())
    config["noise"].update(noise_model={"name": "pcm", "compensation": True}, etas=[1, 3600])
    path = tmp_path / "pcm.yaml"
    path.write_text(yaml.safe_dump(config))
    cell = studies.expand(studies.load_study(path))[0]
    parameters = studies.noise_parameters(cell)
    assert parameters["noise_model"] == {"name": "pcm", "compensation": True} and parameters["etas"] == [1.0, 3600.0]


def test_training_parameters_as_grid_axes_and_companions():
    lr = studies.expand(studies.load_study("lr-quick"))
    assert len(lr) == 12 and {c.params["learning_rate"] for c in lr} == {1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2}
    assert all(c.params["lr_schedule"] == "constant" and c.theory["checkpoints"] == "last" for c in lr)
    paper = studies.expand(studies.load_study("lr-paper"))
    assert {c.params["batch_size"] for c in paper} == {32, 128} and len(paper) == 48
    assert [c["name"] for c in studies.companions(studies.load_study("smoke"))] == ["lr-smoke", "arch-smoke"]
    assert studies.companions(studies.load_study("quick")) == []
    assert [c["name"] for c in studies.companions(studies.load_study("quick"), "lr-quick")] == ["lr-quick"]
    assert studies.companions(studies.load_study("smoke"), "none") == []


def test_architecture_studies_and_model_names():
    quick = studies.expand(studies.load_study("arch-quick"))
    assert [c.model for c in quick] == ["ResNet-8", "ResNet-20", "WRN-20-2", "VGG16", "MobileNetV2", "DenseNet-121"]
    wide = quick[2]
    assert wide.params["width"] == 2 and wide.run_id.startswith("cifar10-wrn20-2-bnall-")
    assert "width" not in quick[1].params  # width 1 is not stored: older run ids stay valid
    assert studies.parse_model("densenet121") == {"arch": "densenet121", "depth": None}
    paper = studies.expand(studies.load_study("arch-paper"))
    assert len(paper) == 16 and {c.params["epochs"] for c in paper} == {200}
    with pytest.raises(ValueError, match="BN built in"):
        studies.expand({**studies.load_study("arch-smoke"), "grid": {"dataset": ["cifar10"], "model": ["mobilenetv2"],
                                                                     "bn": ["none"], "seed": [0]}})
    # the reference study's run ids are those of its committed results
    reference = [c.run_id for c in studies.expand(studies.load_study("cpu-reference"))]
    assert reference[0] == "cifar10-resnet20-bnall-de29f7e8" and len(reference) == 10


@pytest.mark.parametrize("main, companions", [("smoke", None), ("quick", "lr-quick,arch-quick"), ("paper", None)])
def test_shipped_studies_can_be_built_together(main, companions):
    config = studies.load_study(main)
    together = {c["name"]: studies.expand(c) for c in (config, *studies.companions(config, companions))}
    assert len(studies.merge_cells(together)) == len({c.run_id for cells in together.values() for c in cells})


def test_a_run_shared_with_other_settings_is_refused():
    smoke = studies.expand(studies.load_study("smoke"))
    other = [studies.Cell(c.run_id, c.params, {**c.noise, "repeats": 7}, c.theory) for c in smoke]
    with pytest.raises(ValueError, match="'smoke' and 'other'"):
        studies.merge_cells({"smoke": smoke, "other": other})


def test_unknown_grid_axis_is_refused(tmp_path):
    config = yaml.safe_load(studies.study_path("smoke").read_text())
    config["grid"]["momentum"] = [0.9]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match="unknown grid axes \\['momentum'\\]"):
        studies.load_study(path)


def test_the_train_notebook_gives_every_cell_its_own_run_id():
    """The workflow passes a cell's training parameters to notebooks/steps/train.ipynb; a
    parameter the notebook does not take or does not pass on changes the run id, and the run
    is trained again under another name (as `shortcut_bn` once did)."""
    import ast
    import json

    from analognoise import params as params_module

    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "steps" / "train.ipynb"
    cells = json.loads(notebook.read_text())["cells"]
    sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    parameters_cell = next(s for s in sources if s.startswith("# Parameters"))
    call = next(node for s in sources if "notebook_params(" in s for node in ast.walk(ast.parse(s))
                if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "params")
    for name in ("smoke", "quick", "paper", "paper-accuracy", "noise-aware"):
        for cell in studies.expand(studies.load_study(name)):
            namespace = {}
            exec(parameters_cell, namespace)
            given = studies.train_parameters(cell)
            assert set(given) <= set(namespace), f"train.ipynb has no parameter {set(given) - set(namespace)}"
            namespace.update(given, notebook_params=params_module.notebook_params)
            exec(compile(ast.Module([call], []), "train.ipynb", "exec"), namespace)
            assert params_module.run_id(namespace["params"]) == cell.run_id, (name, cell.run_id)
