# Every target creates and uses the local .venv by itself: on a fresh machine
# `make demo` and `make test` are the whole set-up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo serve test lint format bench bench-routing clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/gateway demo

serve: $(STAMP)
	$(BIN)/gateway serve

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/module_size.py gateway

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench.overhead

# Routing quality under faults and quotas against baselines and an oracle (bench/routing/README.md).
bench-routing: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.routing --plot bench/routing/cost_vs_slo.png

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
