"""Both run notebooks, end to end through papermill, on a few hundred fixture images."""
from pathlib import Path

import pandas as pd
import papermill as pm
import pytest
import yaml

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks" / "steps"


def execute(name, out_dir, **parameters):
    return pm.execute_notebook(str(NOTEBOOKS / name), str(out_dir / name),
                               parameters=parameters, progress_bar=False, kernel_name="python3")


def test_train_then_inject_noise(tmp_path, data_root):
    runs = tmp_path / "runs"
    execute("train.ipynb", tmp_path, depth=8, bn="none", epochs=1, train_subset=200,
            runs_dir=str(runs), data_dir=str(data_root))
    (run_dir,) = runs.iterdir()
    record = yaml.safe_load((run_dir / "params.yaml").read_text())
    assert record["params"]["bn"] == "none" and record["train_images"] == 200

    execute("inject_noise.ipynb", tmp_path, run_dir=str(run_dir), etas=[0.0, 0.1, 0.4],
            repeats=2, test_subset=50, data_dir=str(data_root))
    table = pd.read_csv(run_dir / "noise.csv")
    assert len(table) == 6 and set(table.eta) == {0.0, 0.1, 0.4}
    assert {"run_id", "accuracy", "normalized_accuracy", "nonfinite_fraction", "targets",
            "scale", "test_images"} <= set(table.columns)
    assert (table.test_images == 50).all() and (table.targets == "trainable").all()


def test_bad_parameters_stop_the_notebooks_and_write_nothing(tmp_path, data_root):
    runs = tmp_path / "runs"
    with pytest.raises(pm.PapermillExecutionError, match="6n\\+2"):
        execute("train.ipynb", tmp_path, depth=21, runs_dir=str(runs), data_dir=str(data_root))
    assert not runs.exists()
    with pytest.raises(pm.PapermillExecutionError, match="etas"):
        execute("inject_noise.ipynb", tmp_path, run_dir=str(tmp_path), etas=[-0.1])
    with pytest.raises(pm.PapermillExecutionError, match="not a finished run"):
        execute("inject_noise.ipynb", tmp_path, run_dir=str(tmp_path))
    assert not (tmp_path / "noise.csv").exists()


@pytest.mark.parametrize("notebook, parameters, message", [
    ("inject_noise.ipynb", {"etas": "[-0.1,0.1]"}, "etas=.*numbers >= 0"),
    ("inject_noise.ipynb", {"seed": "abc"}, "seed='abc'.*integer"),
    ("train.ipynb", {"epochs": "many"}, "epochs='many'.*integer >= 1"),
])
def test_a_bad_parameter_as_typed_is_named_before_any_compute(tmp_path, notebook, parameters, message):
    """papermill -p passes text: a bad value is refused naming the parameter and a working
    form, before any data is looked up or any model is built."""
    with pytest.raises(pm.PapermillExecutionError, match=message):
        execute(notebook, tmp_path, run_dir=str(tmp_path / "no-run"), data_dir=str(tmp_path / "no-data"),
                **parameters)


@pytest.mark.parametrize("notebook", sorted(p.relative_to(NOTEBOOKS.parent).as_posix()
                                            for p in NOTEBOOKS.parent.glob("*/*.ipynb")))
def test_every_parameter_is_listed_by_papermill_with_its_comment(notebook, caplog):
    """`papermill --help-notebook` is how a reader learns a notebook's parameters: each line of
    every parameters cell must parse (an '=' inside a comment does not), and carry a comment."""
    import nbformat

    path = NOTEBOOKS.parent / notebook
    cell = next((c for c in nbformat.read(path, 4).cells if "parameters" in c.metadata.get("tags", [])), None)
    if cell is None:
        assert notebook == "chapters/audit.ipynb", "only the audit of the paper's own numbers takes no parameters"
        return
    names = [line.split("=")[0].strip() for line in cell.source.splitlines()
             if line.strip() and not line.lstrip().startswith("#") and not line.startswith((" ", "\t", ")", "]", "}"))]
    with caplog.at_level("WARNING"):
        inferred = pm.inspect_notebook(str(path))
    assert "Unable to parse" not in caplog.text
    assert list(inferred) == names
    assert all(p["help"] for p in inferred.values()), "every parameter says what it is in a comment"
