# One command runs every check: `make check`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install lock test check lint typecheck bench bench-quick app

install:
	python3.11 -m venv $(VENV) && $(VENV)/bin/pip install --no-deps -r requirements/dev.lock -e .

# Refresh the locks after changing dependencies in pyproject.toml (needs uv: `pip install uv`).
LOCK := uv pip compile pyproject.toml requirements/model.in --override requirements/overrides.txt \
	--python-version 3.11 --universal --no-header --annotation-style line
lock:
	$(LOCK) -o requirements/app.lock && $(LOCK) --extra dev -o requirements/dev.lock

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
