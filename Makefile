# Two commands on a fresh machine: `make demo` and `make test`, in either order. Both create
# .venv first; the demo installs only lambdashift and what it runs on, the tests add the
# `test` extra (moto, awscli, pytest, hypothesis, ...). One stamp each, so either command
# re-installs only when pyproject.toml changes, and the other's stamp does not stand in for it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-demo
TEST_STAMP := $(VENV)/.installed-test

.PHONY: install install-test test lint demo bench clean fmt-check reliability

install: $(STAMP)
install-test: $(TEST_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The package itself is editable: only a change of the dependencies needs a re-install.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(STAMP)

# Two workers (the machine's two cores): most tests wait on servers and worker processes, so
# the suite takes about 60% of its serial time; --dist loadfile keeps a file's tests together.
# The reliability records go to build/ (tests/conftest.py); no tracked file changes.
test: install-test
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=15

# checkov (about 116 MB more than the test extra) lives in its own venv, out of `make test`'s.
LINT_VENV := .venv-lint
$(LINT_VENV)/.installed: pyproject.toml
	test -x $(LINT_VENV)/bin/python || $(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/python -m pip install -q 'checkov>=3.3,<3.4'
	touch $@

lint: install-test $(LINT_VENV)/.installed
	terraform fmt -check -recursive examples/notes/infra
	$(LINT_VENV)/bin/checkov -d examples/notes/infra --framework terraform --compact --quiet --skip-download
	$(BIN)/python -m pytest -q tests/unit/test_notes_infra.py tests/unit/test_notes_infra_checkov.py

# RELIABILITY.md (tracked) from the records of the last green run of the whole suite
# (build/reliability-green.jsonl); refuses when that run was not green. `make test` first.
reliability: install
	$(BIN)/python tools/reliability_report.py

demo: install
	$(BIN)/lambdashift demo

bench: install-test
	$(BIN)/python bench/emulator_invoke.py --record
	$(BIN)/python bench/list_scaling.py --record
	$(BIN)/python bench/analysis_sim.py --record
	$(BIN)/python bench/bake_sim.py --record
	$(BIN)/python bench/source_delay_sim.py
	$(BIN)/python bench/scale.py --functions 1000 --record
	$(BIN)/python bench/scale.py --functions 1000

clean:
	rm -rf $(VENV) $(LINT_VENV) .lambdashift build src/*.egg-info
