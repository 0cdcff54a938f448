# The study workflow: train -> inject_noise and measure_theory for every cell of a study grid,
# then the book's pages (chapter notebooks run through papermill), then the book.
#
#   snakemake --cores 2 --config study=quick          (or smoke, paper, path/to/study.yaml)
#   snakemake --cores 2 --config study=quick companions=lr-quick   (companion studies too)
#   snakemake --cores 2 --config study=cpu-reference companions=none results/cpu-reference/noise.csv
#                                                  (run a study and export its results/ folder)
#
# Training runs are cached by run id (a hash of their parameters), so adding an eta to a config
# re-runs only the noise step; adding a depth trains only the new model. A page is rebuilt when
# its notebook template, the library modules it uses, the paper's data or its results change.
include: "workflow/rules/common.smk"


rule all:
    input:
        "_build/html/index.html",


include: "workflow/rules/runs.smk"
include: "workflow/rules/results.smk"
include: "workflow/rules/pages.smk"
include: "workflow/rules/book.smk"
