# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
EXTRAS ?= app,ann,plots,spark,browser,dev
STAMP  := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
comma  := ,
DEMO_DIR ?= demo
DEMO_ARTISTS ?= 100000
DEMO_PORT ?= 8501
APP ?= 1

.PHONY: help install demo test lint bench bench-scale clean

help:
	@echo "make demo   set up .venv, build the demo catalog and model (first run), show neighbours, serve the app"
	@echo "make test   set up .venv and run the whole test suite (ruff + pytest)"
	@echo "make bench  run the foundation and app benchmarks (JSON in benchmarks/out/)"
	@echo "make bench-scale  the 100k/300k/1M cost curve and its projection to the full dump"
	@echo "make clean  remove .venv, demo output and caches"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $@

install: $(STAMP)

# Generates, ingests and builds on the first run (progress shown), prints a few explained neighbour lists, then
# serves the app on http://localhost:$(DEMO_PORT) until Ctrl-C. `make demo APP=0` stops after the printout.
demo: $(STAMP)
	$(BIN)/recsys demo --dir $(DEMO_DIR) --artists $(DEMO_ARTISTS)
ifeq ($(APP),1)
	@echo "Starting the app: open http://localhost:$(DEMO_PORT) (Ctrl-C stops it)"
	$(BIN)/streamlit run app.py --server.headless true --server.port $(DEMO_PORT) \
		--server.fileWatcherType none --browser.gatherUsageStats false -- --model $(DEMO_DIR)/model
endif

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_foundation.py --out benchmarks/out/foundation.json
	@test -f $(DEMO_DIR)/model/recommender.json || $(MAKE) demo APP=0
	$(BIN)/python benchmarks/bench_app.py --model $(DEMO_DIR)/model --out benchmarks/out/app.json

# the cost curve (100k, 300k and 1M artists; about 1.5 hours and 14 GB peak on a 2-core machine)
bench-scale: $(STAMP)
	$(BIN)/python benchmarks/bench_scale.py --sizes 100000,300000,1000000 --out benchmarks/out/scale.json

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache build *.egg-info
