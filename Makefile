# helpstream: `make demo` runs the pipeline on the embedded broker, `make test` runs every test.
# Both bootstrap .venv on first use (idempotent: re-installs only when pyproject.toml changes).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CODE := streams agents index schemas tests

.PHONY: install demo test unit integration reliability lint format schemas clean
.DEFAULT_GOAL := demo

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/helpstream demo

test: $(STAMP)
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

reliability: $(STAMP)
	$(BIN)/pytest tests/reliability

lint: $(STAMP)
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix $(CODE)
	$(BIN)/ruff format $(CODE)

schemas: $(STAMP)
	$(BIN)/helpstream schemas --out schemas/json

clean:
	rm -rf .helpstream .pytest_cache .mypy_cache .ruff_cache
