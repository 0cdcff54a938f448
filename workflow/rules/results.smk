# Export a study's results (with an `ablation` section) to results/<name>/: tidy CSVs the book
# shows without recomputation (`make results STUDY=...`).
rule export_results:
    input:
        [f"{RUNS}/{c.run_id}/noise.csv" for c in STUDY_CELLS[STUDY["name"]]],
        [f"{RUNS}/{c.run_id}/{studies.noise_file(t)}" for c in STUDY_CELLS[STUDY["name"]] for t in c.ablation_runs],
    output:
        [f"{RESULTS}/{STUDY['name']}/{name}" for name in RESULT_FILES],
    log:
        f"{LOGS}/export_results/{STUDY['name']}.log",
    params:
        study=relative(STUDY["path"]),
        dest=f"{RESULTS}/{STUDY['name']}",
    shell:
        "python workflow/scripts/export_results.py {params.study:q} {params.dest:q} > {log} 2>&1"
