"""The book's one table style: a DataFrame as a reader's table (pandas Styler), with no index
column, the columns that never change stated once in the caption instead of repeated on every
row, and a caption that says what the table shows and what its intervals are over. Cells such
as "mean [lo, hi]" stay on one line; a wide table scrolls inside the page instead of running
past its edge."""
from __future__ import annotations

import pandas as pd

#: CSS of every book table: compact, never wider than the page (it scrolls), cells on one line
TABLE_STYLES = [
    {"selector": "", "props": "display: block; max-width: 100%; overflow-x: auto; font-size: 0.85em;"},
    {"selector": "td, th", "props": "white-space: nowrap; padding: 2px 8px;"},
    {"selector": "caption", "props": "caption-side: top; text-align: left; white-space: normal; padding-bottom: 4px;"},
]


def constant_columns(table: pd.DataFrame) -> dict:
    """Column -> value for every column with one value in every row (a table of two or more rows)."""
    if len(table) < 2:
        return {}
    return {c: table[c].iloc[0] for c in table.columns if table[c].astype(str).nunique() == 1}


def publication_table(table: pd.DataFrame, caption: str, keep=(), precision: int = 1, wrap=()):
    """``table`` as the book shows it: ``caption`` first, then "Same in every row: ..." for its
    constant columns (dropped, except those in ``keep``), no index, numbers at ``precision``
    decimals, :data:`TABLE_STYLES`; the text columns in ``wrap`` (e.g. a claim's evidence) wrap
    instead. Returns a Styler (displayed by Jupyter)."""
    constants = {c: v for c, v in constant_columns(table).items() if c not in keep}
    shown = table.drop(columns=list(constants))
    if constants:
        caption += " Same in every row: " + "; ".join(f"{c} {v}" for c, v in constants.items()) + "."
    styled = (shown.style.hide(axis="index").format(precision=precision, na_rep="")
              .set_caption(caption).set_table_styles(TABLE_STYLES))
    wrapped = [c for c in wrap if c in shown.columns]
    return styled.set_properties(subset=wrapped, **{"white-space": "normal", "min-width": "24em"}) if wrapped else styled


def findings_box(text: str) -> str:
    """A chapter's "What this chapter finds" box as Markdown (a block quote, which notebook
    outputs render as they are): ``text``'s paragraphs under the heading."""
    body = "\n>\n".join("> " + paragraph.replace("\n", " ") for paragraph in text.split("\n\n") if paragraph)
    return "> **What this chapter finds**\n>\n" + body
