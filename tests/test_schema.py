"""The study config schema (analognoise.schema): a typo anywhere is refused naming the file, the
key and the nearest valid key, before any compute; every committed config passes; the reference
lists every key."""
from pathlib import Path

import pytest
import yaml

from analognoise import schema, studies

ROOT = Path(__file__).resolve().parents[1]


def smoke():
    return yaml.safe_load((ROOT / "studies" / "smoke.yaml").read_text())


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(nosie={"etas": [0.1]}), r"unknown key `nosie` \(did you mean `noise`\?\)"),
    (lambda c: c["training"].update(epohcs=3), r"unknown training parameter `training.epohcs` \(did you mean `epochs`\?\)"),
    (lambda c: c["noise"].update(repeat=3), r"unknown key `noise.repeat` \(did you mean `repeats`\?\)"),
    (lambda c: c["noise"].update(repeats="many"), r"`noise.repeats`: Input should be a valid integer"),
    (lambda c: c.update(weights="some"), r"`weights`: Input should be 'all', 'front' or 'none'"),
    (lambda c: c["training"].update(preset="fats"), r"unknown preset `fats` \(did you mean `fast`\?\)"),
    (lambda c: c.pop("noise"), r"`noise` is missing"),
])
def test_a_typo_is_refused_with_the_nearest_key(tmp_path, edit, message):
    config = smoke()
    edit(config)
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match=message) as error:
        studies.load_study(str(path))
    assert str(path) in str(error.value), "the file is named"


def test_every_committed_config_passes_and_the_reference_lists_every_key():
    for path in [*sorted((ROOT / "studies").glob("*.yaml")), *sorted((ROOT / "results").glob("*/study.yaml"))]:
        schema.check_study(yaml.safe_load(path.read_text()), str(path))
    keys = {row["key"]: row for row in schema.reference()}
    for key in ("name", "grid", "noise.etas", "noise.repeats", "ablation.targets", "weights", "training.epochs",
                "training.train_noise"):
        assert key in keys, key
    assert keys["noise.repeats"]["default"] == "required" and keys["weights"]["default"] == "'all'"
    assert all(row["meaning"] for row in keys.values())


def test_every_kind_of_config_has_a_schema_every_committed_one_passes_and_the_reference_shows():
    folders = {"device": "studies/device", "pretrained": "studies/pretrained", "mechanism": "studies/mechanism",
               "BN-search": "studies/bnsearch"}
    assert set(schema.CONFIGS) == {"study", *folders}
    page = schema.reference_markdown()
    for kind, folder in folders.items():
        files = sorted((ROOT / folder).glob("*.yaml"))
        assert files, folder
        for path in files:
            schema.check(schema.CONFIGS[kind][0], yaml.safe_load(path.read_text()), str(path))
        assert f"## {kind} configs" in page.replace("## Device", "## device").replace(
            "## Pretrained", "## pretrained").replace("## Mechanism", "## mechanism"), kind
        assert all(row["meaning"] for row in schema.reference(kind)), kind
    with pytest.raises(ValueError, match=r"x.yaml: .*unknown key `recalibration.image` \(did you mean `images`\?\)"):
        schema.check(schema.Device, dict(name="d", study="s", noise_models=[dict(noise_model="paper", etas=[0.1],
                                                                                  repeats=1)],
                                         recalibration=dict(image=[64])), "x.yaml")
    with pytest.raises(ValueError, match="a config is a mapping"):
        schema.check(schema.Mechanism, ["not", "a", "mapping"], "x.yaml")


def test_the_books_config_reference_is_current():
    """The reference page is generated from the schema: regenerate it after changing the schema
    (`python workflow/scripts/config_reference.py`)."""
    assert (ROOT / "book" / "config_reference.md").read_text() == schema.reference_markdown()
    assert "| `noise.repeats` | int | required |" in schema.reference_markdown()
