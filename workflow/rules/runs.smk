# One training run per cell, then its noise grid (and ablation targets) and theory measurements.
# Every job gets the threads the scheduler gave it: --cores 2 runs two one-thread jobs side by
# side (faster in total than one two-thread job on 2 cores), or one job with both cores when it
# is the only one. On a cluster (no --cores) the profile sets each rule's threads.
JOB_THREADS = max(1, workflow._cores // max(1, len(CELLS))) if workflow._cores else 1


rule train:
    output:
        f"{EXECUTED}/{{run_id}}/train.ipynb",
    log:
        f"{LOGS}/train/{{run_id}}.log",
    params:
        yaml=lambda w: as_yaml(studies.train_parameters(CELLS[w.run_id])),
    threads: JOB_THREADS
    shell:
        "{NOTEBOOK} notebooks/steps/train.ipynb {output} {params.yaml:q} --threads {threads} --log {log}"


rule inject_noise:
    input:
        f"{EXECUTED}/{{run_id}}/train.ipynb",
    output:
        table=f"{RUNS}/{{run_id}}/noise.csv",
        notebook=f"{EXECUTED}/{{run_id}}/inject_noise.ipynb",
    log:
        f"{LOGS}/inject_noise/{{run_id}}.log",
    params:
        yaml=lambda w: as_yaml(studies.noise_parameters(CELLS[w.run_id], RUNS)),
    threads: JOB_THREADS
    shell:
        "{NOTEBOOK} notebooks/steps/inject_noise.ipynb {output.notebook} {params.yaml:q} --threads {threads} --log {log}"


rule inject_noise_target:
    input:
        f"{EXECUTED}/{{run_id}}/train.ipynb",
    output:
        table=f"{RUNS}/{{run_id}}/noise-{{targets}}.csv",
        notebook=f"{EXECUTED}/{{run_id}}/inject_noise-{{targets}}.ipynb",
    log:
        f"{LOGS}/inject_noise/{{run_id}}-{{targets}}.log",
    wildcard_constraints:
        targets="kernels|kernels\\+biases|trainable|all|folded",
    params:
        yaml=lambda w: as_yaml(studies.noise_parameters(CELLS[w.run_id], RUNS, targets=w.targets)),
    threads: JOB_THREADS
    shell:
        "{NOTEBOOK} notebooks/steps/inject_noise.ipynb {output.notebook} {params.yaml:q} --threads {threads} --log {log}"


rule measure_theory:
    input:
        f"{EXECUTED}/{{run_id}}/train.ipynb",
    output:
        tables=directory(f"{RUNS}/{{run_id}}/theory"),
        notebook=f"{EXECUTED}/{{run_id}}/measure_theory.ipynb",
    log:
        f"{LOGS}/measure_theory/{{run_id}}.log",
    params:
        yaml=lambda w: as_yaml(studies.theory_parameters(CELLS[w.run_id], RUNS)),
    threads: JOB_THREADS
    shell:
        "{NOTEBOOK} notebooks/steps/measure_theory.ipynb {output.notebook} {params.yaml:q} --threads {threads} --log {log}"
