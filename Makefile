# analognoise: `make test` and (see README) `make book` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup test benchmark clean

$(STAMP): pyproject.toml
	@echo ">> creating $(VENV) and installing analognoise with its dependencies"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(STAMP)

test: setup
	$(PY) -m pytest

benchmark: setup
	$(PY) benchmarks/noise_eval.py $(if $(ANALOGNOISE_DATA_DIR),--data-dir $(ANALOGNOISE_DATA_DIR))

clean:
	rm -rf _build .pytest_cache
