# awiml: two commands do all set-up on a fresh machine.
#   make demo   end-to-end run on bundled real data, offline
#   make test   the whole suite (unit tests, notebooks, docs site, lint)
#   make docs   the site in docs/_build/html, tutorials executed
# The virtual environment lives in .venv/ at the repository root.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU build of PyTorch that lies on this machine's disk. Installed before
# anything that asks for torch, so pip never resolves a multi-GB CUDA build.
TORCH  := torch==2.13.0

export KERAS_BACKEND := torch
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export MPLBACKEND := Agg

.PHONY: demo test lint docs bench clean install system

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[keras,dask,test,docs]"
	touch $(STAMP)

install: $(STAMP)

# Debian's graphviz (diagrams) and chromium (the browser test of the site);
# installs them only when `dot` or `chromium` is missing.
system:
	tools/system-packages.sh

demo: $(STAMP)
	$(BIN)/python -m awiml.demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check awiml tests benchmarks

test: $(STAMP) system lint
	$(BIN)/python -m pytest tests awiml --doctest-modules $(PYTEST_ARGS)

docs: $(STAMP) system
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

bench: $(STAMP)
	$(BIN)/python benchmarks/import_time.py
	$(BIN)/python benchmarks/fetch_throughput.py
	$(BIN)/python benchmarks/pangaea_parse.py
	$(BIN)/python benchmarks/ecotaxa_tsv.py
	$(BIN)/python benchmarks/o2a_read.py
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/modelstore.py
	$(BIN)/python benchmarks/hsm_get.py
	$(BIN)/python benchmarks/scale_out.py

clean:
	rm -rf $(VENV) docs/_build .pytest_cache build dist *.egg-info
