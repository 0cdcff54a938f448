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


def test_the_findings_box_quotes_every_paragraph():
    from analognoise.presentation import findings_box

    box = findings_box("**One.** First.\n\nSecond\nline.")
    assert box.splitlines() == ["> **What this chapter finds**", ">", "> **One.** First.", ">", "> Second line."]
