"""The book's table style (analognoise.presentation)."""
import pandas as pd

from analognoise.presentation import constant_columns, publication_table


def test_constant_columns_go_to_the_caption_and_the_index_is_hidden():
    table = pd.DataFrame(dict(model=["ResNet-20", "ResNet-56"], batch_size=[128, 128],
                              eq14=["75.8 [74.6, 77.1]", "84.4 [83.1, 85.7]"]))
    assert constant_columns(table) == {"batch_size": 128}
    html = publication_table(table, "Table 1. Eq. 14 (%), 95% CI over training seeds.").to_html()
    assert "Same in every row: batch_size 128." in html and "batch_size</th>" not in html
    assert "75.8 [74.6, 77.1]" in html and "white-space: nowrap" in html
    assert 'class="row_heading' not in html  # no index column
    kept = publication_table(table, "T.", keep=["batch_size"]).to_html()
    assert "Same in every row" not in kept
    assert constant_columns(table.head(1)) == {}
    claims = pd.DataFrame(dict(id=["a", "b"], evidence=["x" * 60, "short"], verdict=["supported", "inconclusive"]))
    wrapped = publication_table(claims, "T.").to_html()
    # the long text column wraps, by a rule more specific than the table's nowrap cells
    assert "td.col1 {" in wrapped.replace("  ", " ") and "td.col2" not in wrapped and "td.col0" not in wrapped


def test_the_findings_box_quotes_every_paragraph():
    from analognoise.presentation import findings_box

    box = findings_box("**One.** First.\n\nSecond\nline.")
    assert box.splitlines() == ["> **What this chapter finds**", ">", "> **One.** First.", ">", "> Second line."]
    listed = findings_box("- **A** first\n- **B** second")
    assert listed.splitlines()[2:] == ["> - **A** first", "> - **B** second"], "a list stays a list"


def test_every_chapters_findings_come_from_its_results():
    """Each chapter's box is generated from the same committed results as its tables: the numbers
    in it are the analysis's, and a claims box reports each verdict as the claims table does."""
    import pandas as pd

    from analognoise import analysis, studies
    from analognoise.paths import project_root

    root = project_root()
    config = studies.load_study(root / "results" / "cpu-reference")
    runs, noise = analysis.load_results(config)
    claims = analysis.claims_checklist(noise)
    box = analysis.claims_findings(claims, limit=2)
    for row in claims.head(2).itertuples():
        assert f"**: {row.verdict} (" in box
    assert f"{len(claims) - 2} more claims" in box
    assert analysis.claims_findings(pd.DataFrame()).startswith("No claim could be tested")
    models = pd.read_csv(root / "results/crosssim-keras-resnet/models.csv")
    pretrained = pd.read_csv(root / "results/crosssim-keras-resnet/noise.csv")
    text = analysis.pretrained_findings(models, pretrained)
    assert "keep less with every step in depth" in text and "ResNet-32 (92.6% clean) 51.5%" in text
    # reversed depth order: the same function must not claim a fall with depth
    assert "every step in depth" not in analysis.pretrained_findings(models.iloc[::-1], pretrained)
    assert analysis.audit_findings().startswith("**18 of the paper's 20 Table IV cells recompute**")
    penalty = analysis.bn_penalty(analysis.load_device_results(root / "results/device-noise")["noise"])
    device = analysis.device_findings(penalty)
    assert "paper -2.3 pp [-3.6, -1.0]" in device and "paper -19.3 pp [-24.0, -14.6]" in device
    trials = analysis.committed_trials(root / "results")
    table = analysis.at_level(trials, 0.2)
    assert f"keep between {table['kept (%)'].iloc[-1]:.1f}% and {table['kept (%)'].iloc[0]:.1f}%" in \
        analysis.ask_findings(table, 0.2)


def test_a_source_note_names_the_folder_its_commit_and_how_to_regenerate(tmp_path):
    from analognoise.presentation import last_commit, source_note

    note = source_note("results/paper-accuracy", runs=["b-run", "a-run", "a-run"], notebook="notebooks/chapters/x.ipynb")
    assert "<code>results/paper-accuracy/</code>" in note and "regenerate: <code>make commit-runs STUDY=paper-accuracy" in note
    assert "2 runs</summary><code>a-run</code>, <code>b-run</code>" in note
    commit = last_commit("results/paper-accuracy")
    assert commit is None or f"commit <code>{commit}</code>" in note
    (tmp_path / "provenance.yaml").write_text("exported: 2026-01-01 00:00 UTC\n")
    elsewhere = source_note(tmp_path)
    assert "exported 2026-01-01 00:00 UTC" in elsewhere and "commit" not in elsewhere and "runs</summary>" not in elsewhere
