# One command runs every check: `make check`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install test check lint typecheck bench bench-quick app

install:
	python3.11 -m venv $(VENV) && $(VENV)/bin/pip install -e ".[dev]"

lint:
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

typecheck:
	$(VENV)/bin/mypy improvement db assistant app_pages

test:
	$(PY) -m pytest

check: lint typecheck test

bench:
	$(PY) -m benchmarks.run

bench-quick:
	$(PY) -m benchmarks.run --quick

app:
	$(VENV)/bin/streamlit run streamlit_app.py
