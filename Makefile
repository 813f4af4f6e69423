# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
EXTRAS ?= app,ann,plots,spark,browser,dev
STAMP  := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
comma  := ,
DEMO_DIR ?= demo
DEMO_ARTISTS ?= 100000

.PHONY: help install demo test lint bench clean

help:
	@echo "make demo   set up .venv and run the main job on the built-in demo catalog"
	@echo "make test   set up .venv and run the whole test suite (ruff + pytest)"
	@echo "make bench  run the benchmarks (JSON in benchmarks/out/)"
	@echo "make clean  remove .venv, demo output and caches"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/recsys demo --dir $(DEMO_DIR) --artists $(DEMO_ARTISTS)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_foundation.py --out benchmarks/out/foundation.json

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache build *.egg-info
