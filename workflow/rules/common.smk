# What this build contains: the study, its companions, their runs, and the book's pages.
import os
import re
from pathlib import Path

import yaml
from analognoise import studies
from analognoise.paths import EXECUTED_DIR, LOGS_DIR, PAGES_DIR, RESULTS_DIR, RUNS_DIR

STUDY = studies.load_study(config.get("study", "quick"))
COMPANIONS = {c["kind"]: c for c in studies.companions(STUDY, config.get("companions"))}
STUDY_CELLS = {study["name"]: studies.expand(study) for study in (STUDY, *COMPANIONS.values())}
CELLS = studies.merge_cells(STUDY_CELLS)

RUNS, EXECUTED, PAGES, LOGS, RESULTS = RUNS_DIR, EXECUTED_DIR, PAGES_DIR, LOGS_DIR, RESULTS_DIR
RESULT_FILES = ("study.yaml", "runs.csv", "histories.csv", "noise.csv", "provenance.yaml")
#: runs one notebook (workflow/scripts/notebook.py); the tests swap in a stand-in that only writes
#: the outputs, to check what the workflow plans
NOTEBOOK = config.get("notebook_runner", "python workflow/scripts/notebook.py")

#: The book, in reading order, written once: (part caption, [(page, what it shows)]).
#: A page is a written chapter under book/ (shows None), or the chapter notebook
#: notebooks/chapters/<page>.ipynb run for: "main" (this build's study), a companion kind
#: (this build's companion study of that kind; the page is left out of a build without one),
#: "committed:<folder>" (exported results, shown without recomputation) or "paper" (the
#: paper's own numbers).
BOOK = [
    ("The study", [("book/method", None), ("paper_accuracy", "committed:results/paper-accuracy"),
                   ("mechanism", "committed:results/mechanism"), ("results", "main"),
                   ("reference", "committed:results/cpu-reference"),
                   ("ablation", "committed:results/cpu-reference"),
                   ("partial_bn", "committed:results/bn-tradeoff"),
                   ("pretrained", "committed:results/crosssim-keras-resnet"), ("audit", "paper")]),
    ("Theory, measured", [("theory_gradient_noise", "main"), ("theory_smoothness", "main")]),
    ("Beyond the paper", [("device_noise", "committed:results/device-noise"),
                          ("mitigations", "committed:results/device-noise")]),
    ("Companion studies", [("learning_rate", "learning-rate"), ("architectures", "architectures")]),
    ("Reproduce and extend", [("book/rerun", None), ("ask", "committed:results"), ("book/config_reference", None),
                              ("book/guide", None), ("runs", "main"), ("book/references", None)]),
]
ROOT_PAGE = "book/intro"
#: A companion chapter in a build without a companion study of its kind shows that kind's
#: committed quick-sized results instead (`make results STUDY=lr-quick`), so no chapter is empty.
COMMITTED_COMPANIONS = {"learning-rate": "committed:results/lr-quick", "architectures": "committed:results/arch-quick"}
#: committed results a page reads besides the folder it shows (lists of globs): a change rebuilds it
PAGE_EXTRA_RESULTS = {"partial_bn": ["results/bnsearch-*/*"], "mitigations": ["results/noise-aware*/*"],
                      "mechanism": ["results/keras-recipe/**/*", "results/fast-unit-gamma/**/*"],
                      "ask": ["results/*/noise.csv", "results/*/runs.csv", "results/*/models.csv"]}
#: companion kinds whose chapter shows theory measurements (exported with their results)
THEORY_KINDS = ("learning-rate",)


def relative(path):
    """A path as the reader should see it: relative to the project root."""
    return os.path.relpath(path, workflow.basedir)


def page_study(shows):
    """The study config a page shows (None: the page needs none, or is not in this build)."""
    if shows == "main":
        return STUDY
    if shows in studies.COMPANION_KINDS:
        return COMPANIONS.get(shows)
    return None


def page_built(shows):
    if shows is not None and shows.startswith("committed:"):  # exported results (models alone are not enough)
        folder = Path(shows.split(":", 1)[1])
        return folder.is_dir() and (any(folder.glob("*.csv")) or any(folder.glob("*/noise.csv")))  # or a folder of them
    return shows is not None and (shows == "main" or shows == "paper" or page_study(shows) is not None)


def page_source(shows):
    """What a page shows in this build: its BOOK entry, or for a companion kind without a
    companion study in this build, that kind's committed results."""
    if shows in studies.COMPANION_KINDS and shows not in COMPANIONS:
        return COMMITTED_COMPANIONS.get(shows, shows)
    return shows


CHAPTERS = {page: page_source(shows) for _, pages in BOOK for page, shows in pages if page_built(page_source(shows))}


def page_parameters(page):
    """papermill parameters of a chapter notebook (paths relative to the project root)."""
    shows = CHAPTERS[page]
    if shows.startswith("committed:"):
        return {"study": shows.split(":", 1)[1]}
    study = page_study(shows)
    return {"study": relative(study["path"])} if study else {}


def page_runs(page):
    """Run ids whose results a page shows."""
    study = page_study(CHAPTERS[page])
    return [c.run_id for c in STUDY_CELLS[study["name"]]] if study else []


#: pages that show the theory measurements (section II) of their runs
THEORY_PAGES = ("theory_gradient_noise", "theory_smoothness", "learning_rate")
THEORY_RUNS = {run for page in THEORY_PAGES if page in CHAPTERS for run in page_runs(page)}


_IMPORT = re.compile(r"from analognoise(?:\.(\w+))? import ([\w ,]+)|import analognoise\.(\w+)")
_RELATIVE_IMPORT = re.compile(r"^from (\.+)(\w*) import ([\w ,()]+)", re.M)
LIBRARY = Path("src/analognoise")


def _module_files(name):
    """The source files of library module ``name`` (a package: all of its files)."""
    if (LIBRARY / name).is_dir():
        return sorted((LIBRARY / name).glob("*.py"))
    return [LIBRARY / f"{name}.py"] if (LIBRARY / f"{name}.py").is_file() else []


def library_sources(notebook):
    """The library source files a notebook uses, with every module they import in turn."""
    todo = set()
    for module, names, plain in _IMPORT.findall(Path(notebook).read_text()):
        todo |= {module or plain} if (module or plain) else {n.strip() for n in names.split(",")}
    seen, files = set(), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for source in _module_files(name):
            files.add(str(source))
            in_package = source.parent != LIBRARY
            for dots, module, names in _RELATIVE_IMPORT.findall(source.read_text()):
                if in_package and len(dots) == 1:
                    continue  # a sibling in the same package: already among its files
                todo |= {module} if module else {n.strip(" ()") for n in names.split(",")}
    paper_data = sorted(str(p) for p in (LIBRARY / "paper").glob("*.csv")) if "analysis" in seen else []
    return sorted(files) + paper_data


def as_yaml(parameters):
    return yaml.safe_dump(parameters, default_flow_style=True, width=10_000).strip()
