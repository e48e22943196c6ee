# Two commands on a fresh machine: `make serve` and `make test`.
# Each creates the virtual environment on first use (and again when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: serve test lint typecheck bench bench-peers fuzz fuzz-long clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

serve: $(BIN)/.installed
	$(BIN)/app-integrity serve --emulated

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

bench: $(BIN)/.installed
	$(BIN)/python -m bench

# The peers (bench/peers/requirements.txt) live in their own environment, never in the package's dependencies.
.venv-peers/.installed: pyproject.toml bench/peers/requirements.txt
	$(PYTHON) -m venv .venv-peers
	.venv-peers/bin/python -m pip install --quiet -e . -r bench/peers/requirements.txt
	touch $@

bench-peers: .venv-peers/.installed
	.venv-peers/bin/python -m bench peers

# Fuzzing (fuzz/README.md): `make fuzz` is the CI-sized run (a few seconds per parser), `make fuzz-long` the long one.
$(BIN)/.fuzz-installed: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,fuzz]'
	touch $@

fuzz: $(BIN)/.fuzz-installed
	$(BIN)/python -m fuzz.run --seconds 3

fuzz-long: $(BIN)/.fuzz-installed
	$(BIN)/python -m fuzz.run --seconds 55 --keep fuzz/corpus --json fuzz/corpus/last-run.json

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
