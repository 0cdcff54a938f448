"""Where the project's files live. Relative paths are taken from the project root, so a
notebook finds ``data/runs`` whether it runs from the root (papermill, Snakemake) or from
``notebooks/`` (Jupyter)."""
from __future__ import annotations

from pathlib import Path


def project_root() -> Path:
    """The checkout this package is imported from (src layout), else the working directory."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else Path.cwd()


def resolve(path) -> Path:
    """``path`` if absolute, else relative to :func:`project_root`."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else project_root() / path
