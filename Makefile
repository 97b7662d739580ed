# citeqa — every target bootstraps what it needs; all of it is idempotent.
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: bootstrap demo test lint chromium reliability bench clean train-answer-model

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# CPU PyTorch first (a plain `torch` would pull a multi-GB CUDA build), then the project.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,export,eval,train,cluster]'
	touch $(STAMP)

bootstrap: $(STAMP)

# Debian's chromium drives the widget tests (Playwright's own browser download cannot work here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The main job: index seeds/ (a no-op when nothing changed), show one answer, then serve the API,
# the widget demo page and the Slack endpoints on http://$(HOST):$(PORT) until Ctrl-C
# (`make demo PORT=8080`, `make demo HOST=0.0.0.0`). HOST is taken from the command line only:
# some shells export HOST as the machine's name, which would bind a public interface.
HOST = 127.0.0.1
PORT ?= 8000
demo: bootstrap
	$(BIN)/citeqa ingest seeds
	$(BIN)/citeqa ask "When was the MoU between Liverpool and Oxford signed?"
	@echo "serving http://$(HOST):$(PORT) (widget demo page at /, API docs at /docs); Ctrl-C stops"
	$(BIN)/citeqa serve --host $(HOST) --port $(PORT)

test: bootstrap chromium
	$(BIN)/pytest -q

# The full-size fault and load tests (the bounded versions run in `make test`).
# Then eval/results/reliability.md lists every figure line of this run, grouped by matrix row
# (written even when a test fails, so the failing figure is on record; the exit status is pytest's).
reliability: bootstrap chromium
	mkdir -p eval/results var
	rm -f var/reliability-lines.txt
	CITEQA_RELIABILITY_FULL=1 CITEQA_RELIABILITY_REPORT=$(CURDIR)/var/reliability-lines.txt \
	  $(BIN)/pytest -q tests/reliability; status=$$?; \
	  $(BIN)/python -m tests.reliability.write_report var/reliability-lines.txt \
	    eval/results/reliability.md; exit $$status

# Performance benchmarks (latency, throughput, encoder backends, cold start, memory, scale,
# peers): writes eval/results/bench/. The seed index is built first; the SQuAD index is reused.
bench: bootstrap
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/citeqa ingest --quiet seeds
	$(BIN)/citeqa bench

# Rebuild the answer model from scratch (CPU is fine; a GPU is used when torch sees one): indexes
# of the SQuAD corpora, the pre-ranker, candidates from the real retriever, fine-tuning, ONNX
# export, dev-only tuning; writes retriever/models/answer/ (model, description, model card).
train-answer-model: bootstrap
	$(BIN)/pip install --quiet -e '.[dev,train]'
	$(BIN)/citeqa ingest --quiet seeds  # the gold set's questions are asked of the seed index
	$(BIN)/python -m eval.train_answer.recipe

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf var build *.egg-info
