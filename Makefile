# citeqa — every target bootstraps what it needs; all of it is idempotent.
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: bootstrap demo test lint chromium ingest bench reliability clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# CPU PyTorch first (a plain `torch` would pull a multi-GB CUDA build), then the project.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

bootstrap: $(STAMP)

# Debian's chromium drives the widget tests (Playwright's own browser download cannot work here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: bootstrap
	$(BIN)/citeqa ingest seeds
	$(BIN)/citeqa ask "When was the MoU between Liverpool and Oxford signed?"

test: bootstrap chromium
	$(BIN)/pytest -q

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf var build *.egg-info
