# Two commands on a fresh machine:
#   make demo   set up .venv and analyse the bundled sample clip (records + annotated video in out/)
#   make test   set up .venv, type-check src/ (mypy) and run the tests
# Setup is idempotent: it reinstalls only when pyproject.toml changed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast typecheck lint bench

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e ".[train,data,scale,server,dev]"
	touch $(STAMP)

demo: setup
	mkdir -p out
	$(VENV)/bin/affectlens analyze samples/single_face.mp4 --jsonl out/single_face.jsonl --csv out/single_face.csv \
		--metrics out/single_face_metrics.csv --output out/single_face_annotated.mp4

test: setup typecheck
	$(VENV)/bin/python -m pytest -q

typecheck: setup
	$(VENV)/bin/python -m mypy

test-fast: setup
	$(VENV)/bin/python -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check src tests scripts
	$(VENV)/bin/ruff format --check src tests scripts
