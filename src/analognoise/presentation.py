"""The book's one table style: a DataFrame as a reader's table (pandas Styler), with no index
column, the columns that never change stated once in the caption instead of repeated on every
row, and a caption that says what the table shows and what its intervals are over. Cells such
as "mean [lo, hi]" stay on one line; a wide table scrolls inside the page instead of running
past its edge."""
from __future__ import annotations

import pandas as pd

#: CSS of every book table: compact, never wider than the page (it scrolls), number cells on one
#: line, headers free to wrap
TABLE_STYLES = [
    {"selector": "", "props": "display: block; max-width: 100%; overflow-x: auto; font-size: 0.85em;"},
    {"selector": "td", "props": "white-space: nowrap; padding: 2px 6px;"},
    {"selector": "th", "props": "white-space: normal; padding: 2px 6px; vertical-align: bottom;"},
    {"selector": "caption", "props": "caption-side: top; text-align: left; white-space: normal; padding-bottom: 4px;"},
]
#: a text column whose longest cell has more characters than this wraps (a claim, its evidence)
WRAP_OVER_CHARACTERS = 40


def constant_columns(table: pd.DataFrame) -> dict:
    """Column -> value for every column with one value in every row (a table of two or more rows)."""
    if len(table) < 2:
        return {}
    return {c: table[c].iloc[0] for c in table.columns if table[c].astype(str).nunique() == 1}


def publication_table(table: pd.DataFrame, caption: str, keep=(), precision: int = 1, wrap=()):
    """``table`` as the book shows it: ``caption`` first, then "Same in every row: ..." for its
    constant columns (dropped, except those in ``keep``), no index, numbers at ``precision``
    decimals, :data:`TABLE_STYLES`; the text columns in ``wrap``, and any whose longest cell is
    over :data:`WRAP_OVER_CHARACTERS` characters (a claim, its evidence), wrap instead. Returns a
    Styler (displayed by Jupyter)."""
    constants = {c: v for c, v in constant_columns(table).items() if c not in keep}
    shown = table.drop(columns=list(constants))
    if constants:
        caption += " Same in every row: " + "; ".join(f"{c} {v}" for c, v in constants.items()) + "."
    long_text = {c for c in shown.columns if not pd.api.types.is_numeric_dtype(shown[c])
                 and shown[c].astype(str).str.len().max() > WRAP_OVER_CHARACTERS}
    wrapped = [i for i, c in enumerate(shown.columns) if c in set(wrap) | long_text]
    styles = TABLE_STYLES + [{"selector": f"td.col{i}", "props": "white-space: normal; min-width: 12em;"}
                             for i in wrapped]
    return (shown.style.hide(axis="index").format(precision=precision, na_rep="")
            .set_caption(caption).set_table_styles(styles))


def findings_box(text: str) -> str:
    """A chapter's "What this chapter finds" box as Markdown (a block quote, which notebook
    outputs render as they are): ``text``'s paragraphs under the heading; a paragraph of "- "
    lines stays a list."""
    def quoted(paragraph: str) -> str:
        lines = paragraph.strip("\n").split("\n")
        if all(line.startswith("- ") for line in lines):
            return "\n".join("> " + line for line in lines)
        return "> " + " ".join(lines)

    body = "\n>\n".join(quoted(paragraph) for paragraph in text.split("\n\n") if paragraph.strip())
    return "> **What this chapter finds**\n>\n" + body


def last_commit(path) -> str | None:
    """The short hash of the last git commit that changed ``path`` (a results folder), or None
    where there is no git history (a copy outside the repository) or it was never committed."""
    import subprocess

    from .paths import project_root, resolve

    try:
        found = subprocess.run(["git", "log", "-1", "--format=%h", "--", str(resolve(path))], cwd=project_root(),
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip() or None


def source_note(folder, runs=(), notebook: str | None = None) -> str:
    """A small provenance line (HTML, for under a table or figure): the committed results folder
    it was made from, the commit that last changed that folder, when it was exported, the
    command that regenerates it, the training runs it used (listed behind a toggle) and, if
    given, the notebook that drew it."""
    import html

    import yaml

    from .paths import project_root, resolve

    path = resolve(folder)
    try:
        shown = path.relative_to(project_root()).as_posix()
    except ValueError:
        shown = str(path)
    parts = [f"results <code>{html.escape(shown)}/</code>"]
    commit = last_commit(path)
    if commit:
        parts.append(f"commit <code>{commit}</code>")
    provenance = path / "provenance.yaml"
    if provenance.is_file():
        record = yaml.safe_load(provenance.read_text()) or {}
        if record.get("exported"):
            parts.append(f"exported {html.escape(str(record['exported']))}")
        if record.get("regenerate"):
            parts.append(f"regenerate: <code>{html.escape(str(record['regenerate']))}</code>")
    if notebook:
        parts.append(f"notebook <code>{html.escape(notebook)}</code>")
    runs = sorted(set(map(str, runs)))
    listed = (f" <details style='display:inline'><summary>{len(runs)} run{'s' if len(runs) != 1 else ''}</summary>"
              + ", ".join(f"<code>{html.escape(r)}</code>" for r in runs) + "</details>") if runs else ""
    return f"<div class='source-note' style='font-size:0.75em;color:#666'>Source: {' · '.join(parts)}{listed}</div>"
