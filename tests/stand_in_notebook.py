"""Stand-in for workflow/scripts/notebook.py in the workflow tests: writes the files a step or
page notebook would write (the executed notebook, a run's noise table or theory folder) without
running anything, so that Snakemake records real jobs in a second."""
import argparse
from pathlib import Path

import nbformat
import yaml

parser = argparse.ArgumentParser()
parser.add_argument("template")
parser.add_argument("output")
parser.add_argument("parameters")
parser.add_argument("--threads")
parser.add_argument("--log")
args = parser.parse_args()
parameters = yaml.safe_load(args.parameters) or {}
Path(args.output).parent.mkdir(parents=True, exist_ok=True)
nbformat.write(nbformat.v4.new_notebook(), args.output)
step = Path(args.template).stem
if step == "inject_noise":
    (Path(parameters["run_dir"]) / parameters.get("output", "noise.csv")).write_text("eta\n")
elif step == "measure_theory":
    (Path(parameters["run_dir"]) / "theory").mkdir(parents=True)
elif step == "train":
    Path(f"data/runs/{Path(args.output).parent.name}").mkdir(parents=True, exist_ok=True)
