"""Where the project's files live: the folders it names, and relative paths taken from the
project root, so a notebook finds ``data/runs`` whether it runs from the root (papermill,
Snakemake) or from ``notebooks/`` (Jupyter)."""
from __future__ import annotations

from pathlib import Path

#: finished and partial training runs (see :mod:`analognoise.runs`)
RUNS_DIR = "data/runs"
#: the executed step notebooks of each run
EXECUTED_DIR = "data/executed"
#: the book's generated pages, its table of contents and static files
PAGES_DIR = "data/book"
#: one log per workflow job
LOGS_DIR = "data/logs"
#: datasets a user puts in the project (searched after $ANALOGNOISE_DATA_DIR)
RAW_DATA_DIR = "data/raw"
#: committed results of long studies: tidy CSVs, model weights, partial runs
RESULTS_DIR = "results"
#: study configs
STUDIES_DIR = "studies"


def project_root() -> Path:
    """The checkout this package is imported from (src layout), else the working directory."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else Path.cwd()


def resolve(path) -> Path:
    """``path`` if absolute, else relative to :func:`project_root`."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else project_root() / path
