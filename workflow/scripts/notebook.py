"""Run one notebook for the workflow: papermill with the parameters given as YAML, the job's
thread count, its output streamed to the console and to a log; then, for the book, the
injected parameters cell is collapsed (a reader opens it to see what was run).

    python workflow/scripts/notebook.py TEMPLATE OUTPUT "{depth: 20, bn: none}" --threads 1 --log LOG
"""
import argparse
import logging
import os
import re
import sys
import threading

import nbformat
import papermill
import yaml

from analognoise.runtime import thread_environment

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("template")
parser.add_argument("output")
parser.add_argument("parameters", help="YAML mapping")
parser.add_argument("--threads", type=int, default=0, help="CPU threads of the job (0: every core)")
parser.add_argument("--log", help="also write the notebook's output here")
args = parser.parse_args()

#: start-up messages of TensorFlow's C++ runtime on a CPU machine that read as errors and are
#: not (the kernel writes them to the stderr it inherits, before any setting can silence them)
HARMLESS = re.compile(r"cuInit|cudart_stub|cuda_platform|cuda_executor|port\.cc:\d+\] oneDNN custom operations|"
                      r"cpu_feature_guard|All log messages before absl::InitializeLog|"
                      r"To enable the following instructions|Unable to register cu(DNN|FFT|BLAS) factory|"
                      r"computation_placer|TF-TRT Warning|Kernel is running over TCP without encryption|"
                      r"^(Executing|Ending) Cell \d+-+$")


def filter_stderr():
    """Route this process's stderr (inherited by the kernel) through a filter that drops the
    HARMLESS lines; returns a function that undoes it and waits for the last lines."""
    read_end, write_end = os.pipe()
    console = os.dup(2)
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump():
        with os.fdopen(read_end, "rb") as lines:
            for line in lines:
                if not HARMLESS.search(line.decode(errors="replace")):
                    os.write(console, line)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()

    def restore():
        sys.stderr.flush()
        os.dup2(console, 2)
        thread.join(timeout=10)

    return restore


os.environ.update(thread_environment(args.threads))
parameters = yaml.safe_load(args.parameters) or {}
handlers = [logging.StreamHandler(sys.stderr)]
if args.log:
    os.makedirs(os.path.dirname(args.log) or ".", exist_ok=True)
    handlers.append(logging.FileHandler(args.log, mode="w"))
for handler in handlers:
    handler.addFilter(lambda record: not HARMLESS.search(record.getMessage()))
logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=handlers)
restore_stderr = filter_stderr()
try:
    papermill.execute_notebook(args.template, args.output, parameters=parameters, log_output=True,
                               progress_bar=False, kernel_name="python3")
finally:
    restore_stderr()
notebook = nbformat.read(args.output, as_version=4)
for cell in notebook.cells:
    tags = cell.metadata.get("tags", [])
    if "injected-parameters" in tags and "hide-input" not in tags:
        cell.metadata["tags"] = [*tags, "hide-input"]
nbformat.write(notebook, args.output)
