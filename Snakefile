# The study workflow: train -> inject_noise and measure_theory for every cell of a study grid,
# then the analysis notebooks, then the book. Runs only what is missing or whose parameters changed.
#
#   snakemake --cores 2 --config study=quick          (or smoke, paper, path/to/study.yaml)
#   snakemake --cores 2 --config study=quick companions=lr-quick   (companion studies too)
#   snakemake --cores 2 --config study=cpu-reference companions=none results/cpu-reference
#                                                  (run a study and export its results/ folder)
#
# Training runs are cached by run id (a hash of their parameters), so adding an eta to a config
# re-runs only the noise step; adding a depth trains only the new model.
import glob

import yaml
from analognoise import studies

STUDY = studies.load_study(config.get("study", "quick"))
COMPANIONS = studies.companions(STUDY, config.get("companions"))
LR_STUDY = next((c for c in COMPANIONS if c["name"].startswith("lr-")), None)
ARCH_STUDY = next((c for c in COMPANIONS if c["name"].startswith("arch-")), None)
STUDY_CELLS = {study["name"]: studies.expand(study) for study in (STUDY, *COMPANIONS)}
CELLS = studies.merge_cells(STUDY_CELLS)
MAIN_RUNS = [c.run_id for c in STUDY_CELLS[STUDY["name"]]]
LR_RUNS = [c.run_id for c in STUDY_CELLS[LR_STUDY["name"]]] if LR_STUDY else []
ARCH_RUNS = [c.run_id for c in STUDY_CELLS[ARCH_STUDY["name"]]] if ARCH_STUDY else []
RUNS = "data/runs"
EXECUTED = "data/executed"
PAGES = "data/book"
RESULTS = "results"
RESULT_FILES = ("study.yaml", "runs.csv", "histories.csv", "noise.csv", "provenance.yaml")
#: the committed study the reference and ablation chapters show (no recomputation)
REFERENCE = f"{RESULTS}/cpu-reference"


def as_yaml(parameters):
    return yaml.safe_dump(parameters, default_flow_style=True, width=10_000).strip()


rule all:
    input:
        "_build/html/index.html",


rule train:
    output:
        f"{EXECUTED}/{{run_id}}/train.ipynb",
    params:
        yaml=lambda w: as_yaml(studies.train_parameters(CELLS[w.run_id])),
    shell:
        "papermill notebooks/train.ipynb {output} -y {params.yaml:q} --log-output --no-progress-bar"


rule inject_noise:
    input:
        f"{EXECUTED}/{{run_id}}/train.ipynb",
    output:
        table=f"{RUNS}/{{run_id}}/noise.csv",
        notebook=f"{EXECUTED}/{{run_id}}/inject_noise.ipynb",
    params:
        yaml=lambda w: as_yaml(studies.noise_parameters(CELLS[w.run_id], RUNS)),
    shell:
        "papermill notebooks/inject_noise.ipynb {output.notebook} -y {params.yaml:q} --log-output --no-progress-bar"


rule inject_noise_target:
    input:
        f"{EXECUTED}/{{run_id}}/train.ipynb",
    output:
        table=f"{RUNS}/{{run_id}}/noise-{{targets}}.csv",
        notebook=f"{EXECUTED}/{{run_id}}/inject_noise-{{targets}}.ipynb",
    wildcard_constraints:
        targets="kernels|kernels\\+biases|trainable|all|folded",
    params:
        yaml=lambda w: as_yaml(studies.noise_parameters(CELLS[w.run_id], RUNS, targets=w.targets)),
    shell:
        "papermill notebooks/inject_noise.ipynb {output.notebook} -y {params.yaml:q} --log-output --no-progress-bar"


rule export_results:
    input:
        expand(f"{RUNS}/{{run_id}}/noise.csv", run_id=MAIN_RUNS),
        [f"{RUNS}/{c.run_id}/{studies.noise_file(t)}" for c in STUDY_CELLS[STUDY["name"]] for t in c.ablation_runs],
    output:
        [f"{RESULTS}/{STUDY['name']}/{name}" for name in RESULT_FILES],
    params:
        study=STUDY["path"],
        dest=f"{RESULTS}/{STUDY['name']}",
    shell:
        "python -c 'import sys; from analognoise import analysis; analysis.export_results(sys.argv[1], sys.argv[2])' "
        "{params.study:q} {params.dest:q}"


rule measure_theory:
    input:
        f"{EXECUTED}/{{run_id}}/train.ipynb",
    output:
        tables=directory(f"{RUNS}/{{run_id}}/theory"),
        notebook=f"{EXECUTED}/{{run_id}}/measure_theory.ipynb",
    params:
        yaml=lambda w: as_yaml(studies.theory_parameters(CELLS[w.run_id], RUNS)),
    shell:
        "papermill notebooks/measure_theory.ipynb {output.notebook} -y {params.yaml:q} --log-output --no-progress-bar"


rule study_page:
    input:
        expand(f"{RUNS}/{{run_id}}/noise.csv", run_id=MAIN_RUNS),
        expand(f"{RUNS}/{{run_id}}/theory", run_id=MAIN_RUNS),
    output:
        f"{PAGES}/{{page}}.ipynb",
    wildcard_constraints:
        page="results|runs|theory_gradient_noise|theory_smoothness",
    params:
        study=STUDY["path"],
    shell:
        "papermill notebooks/{wildcards.page}.ipynb {output} -p study {params.study:q} --log-output --no-progress-bar"


rule learning_rate_page:
    input:
        expand(f"{RUNS}/{{run_id}}/noise.csv", run_id=LR_RUNS),
        expand(f"{RUNS}/{{run_id}}/theory", run_id=LR_RUNS),
    output:
        f"{PAGES}/learning_rate.ipynb",
    params:
        study=LR_STUDY["path"] if LR_STUDY else "",
    shell:
        "papermill notebooks/learning_rate.ipynb {output} -p study {params.study:q} --log-output --no-progress-bar"


rule architectures_page:
    input:
        expand(f"{RUNS}/{{run_id}}/noise.csv", run_id=ARCH_RUNS),
    output:
        f"{PAGES}/architectures.ipynb",
    params:
        study=ARCH_STUDY["path"] if ARCH_STUDY else "",
    shell:
        "papermill notebooks/architectures.ipynb {output} -p study {params.study:q} --log-output --no-progress-bar"


rule reference_page:
    input:
        [f"{REFERENCE}/{name}" for name in RESULT_FILES],
    output:
        f"{PAGES}/{{page}}.ipynb",
    wildcard_constraints:
        page="reference|ablation",
    shell:
        "papermill notebooks/{wildcards.page}.ipynb {output} -p study {REFERENCE} --log-output --no-progress-bar"


rule audit_page:
    output:
        f"{PAGES}/audit.ipynb",
    shell:
        "papermill notebooks/audit.ipynb {output} --log-output --no-progress-bar"


rule book:
    input:
        expand(f"{PAGES}/{{page}}.ipynb",
               page=["results", "runs", "audit", "theory_gradient_noise", "theory_smoothness", "learning_rate",
                     "architectures", "reference", "ablation"]),
        "_config.yml",
        "_toc.yml",
        expand(f"{EXECUTED}/{{run_id}}/inject_noise.ipynb", run_id=CELLS),
        sorted(glob.glob("book/*.md")),
    output:
        "_build/html/index.html",
    shell:
        "jupyter-book build . --warningiserror --keep-going --quiet"
