# nrt-inference: every command the README and docs/ show runs through here.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# uv, in a venv of its own inside .venv (uv sync keeps .venv to exactly what uv.lock lists).
TOOLS := $(VENV)/tools
UV := $(TOOLS)/bin/uv
# uv uses the Python that made .venv; it never downloads one.
export UV_PYTHON_DOWNLOADS := never
# The dashboard test opens the page in a real headless browser: Debian's chromium.
CHROMIUM := /usr/bin/chromium
# checkov pins boto3 and botocore below what the project needs: it gets a venv of its own.
CHECKOV := $(VENV)/checkov/bin/checkov
# One test worker a core; a file's tests stay on one worker, so each module's stack starts once.
BY_FILE := -n auto --dist loadfile
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The complexity gate (radon's grades, enforced by xenon, as the cookbook's make pr does): no
# function or method past B (cyclomatic complexity 10), every module and the code as a whole
# averaging A (5 or less).
COMPLEXITY_PATHS := nrt training functions producer benchmarks

.PHONY: help lock demo up test pr unit workflow template e2e lint typecheck complexity browser checkov bench clean

help: ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Every install comes from a lock: uv.lock for the project (the product's dependencies, and
# the dev extra for the tests), tools/*.txt (with hashes) for uv itself and checkov.
$(UV): tools/uv.txt | $(BIN)/python
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r tools/uv.txt

# The product alone, exactly as locked: whatever the tests brought is removed (so the demo
# cannot lean on it). uv compiles the bytecode, as pip does; each process would otherwise
# compile what it imports.
$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --quiet --locked --compile-bytecode
	@rm -f $(DEV_STAMP)
	@touch $@

$(DEV_STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --quiet --locked --compile-bytecode --extra dev
	@touch $@ $(STAMP)

lock: | $(UV) ## Refresh the locks to the newest versions the pins allow (then run make test)
	$(UV) lock --upgrade
	for tool in uv checkov; do \
	  $(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes --upgrade \
	    tools/$$tool.in -o tools/$$tool.txt || exit; \
	done

demo: $(STAMP) ## Run the demo on the embedded AWS (creates .venv on first use)
	$(BIN)/nrt demo

up: $(STAMP) ## Start the local stack (API :3000, embedded AWS :4566) until Ctrl-C
	$(BIN)/nrt up

lint: $(DEV_STAMP) ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV_STAMP) ## mypy (strict)
	$(BIN)/mypy

complexity: $(DEV_STAMP) ## The complexity gate: no function past B, modules and the average A (radon, xenon)
	$(BIN)/xenon --max-absolute B --max-modules A --max-average A $(COMPLEXITY_PATHS)

$(CHROMIUM):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
	  || ($(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

browser: $(CHROMIUM) ## Install Debian's chromium (for the dashboard's browser test)

$(CHECKOV): tools/checkov.txt | $(UV)
	$(PYTHON) -m venv --without-pip $(VENV)/checkov
	$(UV) pip install --quiet --compile-bytecode --require-hashes --python $(VENV)/checkov/bin/python -r tools/checkov.txt

checkov: $(CHECKOV) ## Install checkov in .venv/checkov (the template's security scan, run by the tests)

test: pr ## Install dev extras, chromium and checkov; lint, type-check, run every tier (what CI runs)

pr: lint complexity browser checkov ## The gate before a change lands: lint, complexity, then types beside every tier
	@# mypy takes one core for about 12 s; beside pytest it fills the cores the tests leave idle.
	$(BIN)/mypy & typecheck=$$!; \
	$(BIN)/pytest -q $(BY_FILE) --durations=15; tests=$$?; \
	wait $$typecheck && exit $$tests

unit: $(DEV_STAMP) ## Tier: pure logic, no embedded AWS, no servers (the inner loop, one worker a core)
	$(BIN)/pytest -q -n auto tests/unit

workflow: $(DEV_STAMP) ## Tier: the real ASL and functions on the embedded AWS, in process (a worker a core)
	$(BIN)/pytest -q $(BY_FILE) tests/workflow

template: $(DEV_STAMP) checkov ## Tier: the template against AWS's rules, linters, sam build
	$(BIN)/pytest -q tests/template

e2e: $(DEV_STAMP) browser ## Tier: nrt up in its own process, real clients against it (a worker a core)
	$(BIN)/pytest -q $(BY_FILE) tests/e2e

bench: $(STAMP) ## Measure local end-to-end throughput and latency, then the two tiers side by side (see benchmarks/)
	$(BIN)/python -m benchmarks.e2e
	$(BIN)/python -m benchmarks.tiers

clean: ## Remove the venv, local state and build output
	rm -rf $(VENV) .nrt .aws-sam
