# analognoise: `make test` and (see README) `make book` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PROFILE ?= quick
CORES ?= 2
# the CIFAR copy beside this checkout, if there is one and nothing else was chosen
ANALOGNOISE_DATA_DIR ?= $(if $(wildcard ../shared/datasets),$(abspath ../shared/datasets))
export ANALOGNOISE_DATA_DIR
export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: setup test lab book results commit-runs pretrained device mechanism bn-search cluster-test benchmark clean

$(STAMP): pyproject.toml
	@echo ">> creating $(VENV) and installing analognoise with its dependencies"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(STAMP)

test: setup
	$(PY) -m pytest

# JupyterLab on the project's environment, to extend the analysis (notebooks/chapters/ask.ipynb)
lab: setup
	$(VENV)/bin/jupyter lab notebooks/chapters/ask.ipynb

# run the study PROFILE (smoke | quick | paper | path/to/study.yaml) and its companion studies
# (COMPANIONS=lr-quick overrides the config's list; COMPANIONS=none for none), then build the book
book: setup
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/snakemake --cores $(CORES) --config study=$(PROFILE) \
		$(if $(filter undefined,$(origin COMPANIONS)),,companions=$(COMPANIONS))
	@echo ">> book: $(abspath _build/html/index.html)"

# run a study (default: the committed reference study) and export its results to results/<name>/
# (tidy CSVs the book shows without recomputing: make results STUDY=lr-quick); resumes where it stopped
STUDY ?= cpu-reference
results: setup
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/snakemake --cores $(CORES) --config study=$(STUDY) \
		companions=none -- results/$(notdir $(basename $(STUDY)))/noise.csv

# commit a long study's runs as they stand into results/<study>/: finished runs' weights, runs
# still training (their partial state, so that the next machine resumes them) and the results of
# the finished runs (their noise tables are made first): make commit-runs STUDY=paper-accuracy
commit-runs: setup
	targets="$$($(PY) workflow/scripts/finished_noise_targets.py $(STUDY))"; \
	if [ -n "$$targets" ]; then PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/snakemake --cores $(CORES) \
		--config study=$(STUDY) companions=none -- $$targets; fi
	$(PY) workflow/scripts/commit_runs.py $(STUDY)

# pretrained models (studies/pretrained/<name>.yaml) under the noise grid and every noise target,
# into results/<name>/ (committed; the book's "Pretrained models" chapter shows it)
CONFIG ?= studies/pretrained/crosssim-keras-resnet.yaml
pretrained: setup
	$(PY) workflow/scripts/evaluate_models.py $(CONFIG)

# committed trained models under device noise models and per-layer noise (studies/device/<name>.yaml)
# into results/<name>/ (committed; the book's "Beyond the paper: device noise" chapter shows it)
DEVICE_CONFIG ?= studies/device/paper-accuracy-device.yaml
device: setup
	$(PY) workflow/scripts/evaluate_device_noise.py $(DEVICE_CONFIG)

# why BN loses accuracy under noise: BN diagnostics of trained models and their noise grids before and
# after interventions on the trained weights (studies/mechanism/<name>.yaml), into results/<name>/
# (committed; the book's "Why BN loses accuracy under noise" chapter shows it)
MECHANISM_CONFIG ?= studies/mechanism/interventions.yaml
mechanism: setup
	$(PY) workflow/scripts/evaluate_mechanism.py $(MECHANISM_CONFIG)

# the fewest BN sites with which a network trains (studies/bnsearch/<name>.yaml), into results/<name>/
SEARCH ?= studies/bnsearch/vgg16-cifar10.yaml
bn-search: setup
	$(PY) workflow/scripts/bn_search.py $(SEARCH)

# the smoke study through a real SLURM scheduler started on this machine (root; Debian's slurm-wlm,
# munge, slurmdbd on MariaDB, installed with apt where missing), checked against a local run:
# every job through sbatch and in sacct, every noise table identical; the scheduler is stopped after
cluster-test: setup
	$(PY) -m pip install --quiet -e ".[cluster]"
	$(PY) workflow/scripts/cluster_test.py --study smoke

# the noise engine (a noise trial of every noise model vs a clean pass) and training throughput (threads, parallel
# jobs, the project's loop vs plain model.fit), each measured as ratios within one run
benchmark: setup
	$(PY) benchmarks/noise_eval.py $(if $(ANALOGNOISE_DATA_DIR),--data-dir $(ANALOGNOISE_DATA_DIR))
	$(PY) benchmarks/train_throughput.py --cores $(CORES)

clean:
	rm -rf _build .pytest_cache
