# nerf_ff — set-up and everyday commands. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
# torch is installed first and pinned: an unpinned requirement would pull a multi-GB CUDA build.
# On a GPU machine choose the build for your driver, e.g. `make setup TORCH="torch==2.11.0"`.
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.nerf_ff-installed

.PHONY: setup demo test test-all test-gpu bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[test]"
	-$(PY) -m nerf_ff.cli fetch-lpips || echo "warning: LPIPS weights not fetched; LPIPS will be reported as unavailable"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/nerf-ff demo --force

test: $(STAMP)
	$(PY) -m pytest -q

test-all: $(STAMP)  ## also the slow end-to-end tests and the dataset checks (reads ../shared/datasets)
	$(PY) -m pytest -q -m "slow or dataset or not slow"

test-gpu: $(STAMP)
	$(PY) -m pytest -q -m gpu

bench: $(STAMP)
	$(PY) scripts/bench.py

lint:  ## pyflakes-level checks (pip install ruff)
	ruff check nerf_ff tests scripts

clean:
	rm -rf $(VENV) runs .pytest_cache
