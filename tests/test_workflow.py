"""What the workflow plans (``snakemake -n``): every page of a study, exactly the pages an edit
touches, and no training when only the noise grid changes. Jobs are "run" by a stand-in that
only writes their outputs, so Snakemake records them as it does real ones."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STAND_IN = f"{sys.executable} {Path(__file__).with_name('stand_in_notebook.py')}"
PAGES_WITHOUT_COMPANIONS = {"paper_accuracy", "mechanism", "ask", "results", "reference", "ablation", "partial_bn", "pretrained",
                            "device_noise", "mitigations", "audit", "theory_gradient_noise",
                            "theory_smoothness", "runs"}
COMPANION_PAGES = {"learning_rate", "architectures"}


def snakemake(workdir, *args, dry=True):
    command = [str(BIN / "snakemake"), "--cores", "2", *(["-n"] if dry else ["--quiet"]), *args]
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def planned(output):
    """(rule -> job count, set of pages) of a dry run's output."""
    jobs = {m[0]: int(m[1]) for m in re.findall(r"^(\w+)\s+(\d+)$", output, re.M) if m[0] != "total"}
    pages = set(re.findall(r"output: data/book/(\w+)\.ipynb", output))
    return jobs, pages


def copy_of_the_project(work: Path) -> Path:
    for name in ("Snakefile", "workflow", "notebooks", "book", "_config.yml", "references.bib", "results", "studies", "src"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy2)(ROOT / name, work / name)
    return work


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A copy of the project as cloned: nothing built."""
    return copy_of_the_project(tmp_path_factory.mktemp("fresh"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A copy of the project where the quick study's runs and pages are "built"."""
    work = copy_of_the_project(tmp_path_factory.mktemp("built"))
    rebuild(work)
    return work


def rebuild(work):
    snakemake(work, "--config", "study=quick", f"notebook_runner={STAND_IN}", "--until", "page", dry=False)


def test_a_study_without_companions_plans_every_page(fresh):
    """The companion chapters show the committed quick-sized companion results, never nothing."""
    output = snakemake(fresh, "--config", "study=quick", "--printshellcmds")
    jobs, pages = planned(output)
    assert pages == PAGES_WITHOUT_COMPANIONS | COMPANION_PAGES
    assert jobs["train"] == 2 and jobs["book"] == 1  # the companions' runs are not trained
    for page, folder in (("learning_rate", "results/lr-quick"), ("architectures", "results/arch-quick")):
        assert f"notebooks/chapters/{page}.ipynb data/book/{page}.ipynb '{{study: {folder}}}'" in output


def test_the_introduction_links_every_chapter():
    """A reader starts at book/intro.md: every chapter a build always has is introduced there (the
    companion chapters are described, since a build may leave them out)."""
    linked = set(re.findall(r"\{doc\}`\.\./data/book/(\w+)`", (ROOT / "book" / "intro.md").read_text()))
    assert PAGES_WITHOUT_COMPANIONS - linked == set()


def test_without_committed_companion_results_their_chapters_are_left_out(tmp_path):
    work = copy_of_the_project(tmp_path)
    for folder in ("lr-quick", "arch-quick"):
        shutil.rmtree(work / "results" / folder)
    _, pages = planned(snakemake(work, "--config", "study=quick"))
    assert pages == PAGES_WITHOUT_COMPANIONS


def test_companions_add_their_chapters(fresh):
    output = snakemake(fresh, "--config", "study=smoke", "--printshellcmds")
    _, pages = planned(output)
    assert pages == PAGES_WITHOUT_COMPANIONS | COMPANION_PAGES
    assert "studies/lr-smoke.yaml}'" in output  # this build's companion, not the committed one


def test_a_built_study_plans_only_the_book(built):
    jobs, pages = planned(snakemake(built, "--config", "study=quick", f"notebook_runner={STAND_IN}"))
    assert pages == set() and "train" not in jobs and "inject_noise" not in jobs


def edit(path: Path) -> None:
    """Change a file's content (Snakemake ignores a new mtime when the content is the same)."""
    path.write_text(path.read_text() + "\n")


def test_editing_a_page_template_rebuilds_that_page_and_the_book(built):
    edit(built / "notebooks/chapters/audit.ipynb")
    jobs, pages = planned(snakemake(built, "--config", "study=quick", f"notebook_runner={STAND_IN}"))
    assert pages == {"audit"} and jobs["page"] == 1 and jobs["book"] == 1
    assert set(jobs) <= {"page", "book", "mathjax", "toc", "all"}
    rebuild(built)


def test_editing_a_library_module_rebuilds_the_pages_that_use_it(built):
    edit(built / "src/analognoise/plots.py")
    _, pages = planned(snakemake(built, "--config", "study=quick", f"notebook_runner={STAND_IN}"))
    edit(built / "src/analognoise/analysis/claims.py")
    _, with_analysis = planned(snakemake(built, "--config", "study=quick", f"notebook_runner={STAND_IN}"))
    assert "results" in pages and "theory_smoothness" in pages
    assert not {"audit", "runs"} & pages, "the audit and the runs page draw no figures"
    assert {"audit", "runs"} <= with_analysis and pages <= with_analysis
    rebuild(built)


def test_adding_an_eta_reruns_the_noise_step_only(built):
    config = yaml.safe_load((ROOT / "studies/quick.yaml").read_text())
    config["noise"]["etas"].append(0.05)
    extra = built / "quick-plus-eta.yaml"
    extra.write_text(yaml.safe_dump(config))
    jobs, pages = planned(snakemake(built, "--config", f"study={extra}", f"notebook_runner={STAND_IN}"))
    assert "train" not in jobs and "measure_theory" not in jobs
    assert jobs["inject_noise"] == 2
    assert "audit" not in pages and "reference" not in pages
