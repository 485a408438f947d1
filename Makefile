# Every target depends on the venv stamp: a fresh clone needs no separate install step.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Unset variables pass no flag: every default lives in the command's config (automl -h).
TASK ?=
STORAGE ?=
# Test processes (pytest-xdist): many tests wait on subprocesses, servers and time budgets,
# so two keep 2 cores busier than one (BENCHMARKS.md, session 13). 0: all in this process.
# A module's tests stay in one process, in order (some share module-scoped state).
TEST_PROCESSES ?= 2

SEARCH_FLAGS = $(if $(TASK),--task $(TASK)) \
	$(if $(STUDY),--study $(STUDY)) \
	$(if $(TRIALS),--trials $(TRIALS)) \
	$(if $(TIMEOUT),--timeout $(TIMEOUT)) \
	$(if $(FINAL_SHARE),--final-share $(FINAL_SHARE)) \
	$(if $(EPOCHS),--epochs $(EPOCHS)) \
	$(if $(PATIENCE),--patience $(PATIENCE)) \
	$(if $(STORAGE),--storage $(STORAGE)) \
	$(if $(DATA_DIR),--data-dir $(DATA_DIR)) \
	$(if $(IMAGE_SIZE),--image-size $(IMAGE_SIZE)) \
	$(if $(RESIZE),--resize $(RESIZE)) \
	$(if $(ARTIFACTS),--artifacts $(ARTIFACTS)) \
	$(if $(WORKERS),--workers $(WORKERS)) \
	$(if $(KEEP_BEST),--keep-best $(KEEP_BEST)) \
	$(if $(MAX_PARAMS),--max-params $(MAX_PARAMS)) \
	$(if $(SEED),--seed $(SEED)) \
	$(if $(SAMPLER),--sampler $(SAMPLER)) \
	$(if $(PRUNER),--pruner $(PRUNER)) \
	$(if $(WARM_START),--warm-start $(WARM_START)) \
	$(if $(BACKBONES),--backbones $(BACKBONES)) \
	$(if $(WEIGHTS_DIR),--weights-dir $(WEIGHTS_DIR)) \
	$(if $(VERBOSE),--verbose)

.PHONY: install search dashboard serve test test-fast lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

search: $(STAMP)
	$(BIN)/automl search $(SEARCH_FLAGS)

dashboard: $(STAMP)
	$(BIN)/automl dashboard $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT)) \
		$(if $(STORAGE),--storage $(STORAGE))

serve: $(STAMP)
	$(BIN)/automl serve $(if $(MODEL),--model $(MODEL),--study $(or $(STUDY),$(TASK),mnist)) \
		$(if $(HOST),--host $(HOST)) $(if $(SERVE_PORT),--port $(SERVE_PORT)) \
		$(if $(RUNTIME),--runtime $(RUNTIME)) \
		$(if $(TOKEN_FILE),--token-file $(TOKEN_FILE)) $(if $(STORAGE),--storage $(STORAGE))

test: $(STAMP)
	$(BIN)/pytest -q -n $(TEST_PROCESSES) --dist loadscope $(PYTEST_ARGS)

# The fast tier (no training, no servers beyond one in-process app, no browser): after each change.
test-fast: $(STAMP)
	$(BIN)/pytest -q -n $(TEST_PROCESSES) --dist loadscope -m fast $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python bench/bench_overhead.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
