# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo bench clean fmt-check reliability

install: $(STAMP)

# Re-install only when the project's dependencies change; the package itself is editable.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q

# RELIABILITY.md from the records the last test run left in build/reliability.jsonl
# (a run of the whole suite regenerates it by itself, see tests/conftest.py).
reliability: install
	$(BIN)/python tools/reliability_report.py

demo: install
	$(BIN)/lambdashift demo

bench: install
	$(BIN)/python bench/emulator_invoke.py
	$(BIN)/python bench/list_scaling.py
	$(BIN)/python bench/analysis_sim.py
	$(BIN)/python bench/source_delay_sim.py
	$(BIN)/python bench/scale.py --functions 1000

clean:
	rm -rf $(VENV) .lambdashift build src/*.egg-info
