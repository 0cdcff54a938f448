# Export a study's results to results/<name>/: tidy CSVs the book shows without recomputation
# (`make results STUDY=...`), with the theory measurements where its chapter shows them.
rule export_results:
    input:
        [f"{RUNS}/{c.run_id}/noise.csv" for c in STUDY_CELLS[STUDY["name"]]],
        [f"{RUNS}/{c.run_id}/{studies.noise_file(t)}" for c in STUDY_CELLS[STUDY["name"]] for t in c.ablation_runs],
        [f"{RUNS}/{c.run_id}/theory" for c in STUDY_CELLS[STUDY["name"]] if STUDY.get("kind") in THEORY_KINDS],
    output:
        [f"{RESULTS}/{STUDY['name']}/{name}" for name in RESULT_FILES],
    log:
        f"{LOGS}/export_results/{STUDY['name']}.log",
    params:
        study=relative(STUDY["path"]),
        dest=f"{RESULTS}/{STUDY['name']}",
    shell:
        "python workflow/scripts/export_results.py {params.study:q} {params.dest:q} > {log} 2>&1"
