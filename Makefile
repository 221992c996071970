# Two commands for a newcomer: `make demo` and `make test`. Each sets itself up.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export AIRFLOW_HOME ?= $(CURDIR)/data/airflow_home
export AIRFLOW__CORE__LOAD_EXAMPLES ?= False
export AIRFLOW__CORE__DAGS_FOLDER ?= $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER ?= $(CURDIR)/plugins

.PHONY: install demo test lint format bench requirements clean

# The virtual environment, rebuilt whenever the pins change.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "$$(grep -E '^uv==' requirements.txt)"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/sellerops demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Benchmarks (bench/README.md): the issue's sizes by default; `make bench SIZES=small`
# for a quicker run, `ONLY=B1,B3` for some of them.
SIZES ?= full
ONLY ?=
bench: $(STAMP)
	$(BIN)/python -m bench.run --sizes $(SIZES) $(if $(ONLY),--only $(ONLY)) --markdown

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Recompile the pins after editing requirements.in.
requirements: $(STAMP)
	$(BIN)/uv pip compile --quiet --python-version 3.11 requirements.in -o requirements.txt

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
