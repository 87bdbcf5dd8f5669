# Two commands from a bare Python: `make demo` and `make test`. Each bootstraps .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo serve test lint bench bench-service clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/salesengine demo

# The API and the dashboard over the demo store (salesengine.db, made by `make demo`).
serve: $(STAMP)
	@echo "Open http://127.0.0.1:8000/ with a token made in another shell, for example:"
	@echo "  $(BIN)/salesengine token create --name 'Zhou Min' --role manager --team 'North 华北'"
	@echo "  $(BIN)/salesengine token create --name Audrey --role auditor"
	$(BIN)/salesengine serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

# The HTTP API on SQLite and PostgreSQL (docs/benchmarks.md, "Service"); about 10 minutes.
bench-service: $(STAMP)
	$(BIN)/python bench/service.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
