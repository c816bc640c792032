# The two commands: `make run` (the whole product on this machine) and `make test`.
# Everything either needs is installed here, from the project's own files.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080
EMULATOR_PORT ?= 8081
STORAGE_PORT ?= 10000
CHROMIUM ?= /usr/bin/chromium

PY_STAMP := $(VENV)/.installed
WEB_STAMP := static_web/node_modules/.installed
NODE_HARNESS_STAMP := harness/node/node_modules/.installed
DEVHOST_STAMP := devhost/node_modules/.installed
DIST_STAMP := static_web/dist/.built
WEB_SOURCES := $(shell find static_web/src static_web/public -type f 2>/dev/null) static_web/build.mjs static_web/package.json static_web/package-lock.json static_web/staticwebapp.config.template.json

.PHONY: help setup build run test test-setup lint lint-js bench clean chromium infra-tools fuzz audit soak smoke infra-mutations

help:
	@echo "make run    - install, build and start CodeStream at http://localhost:$(PORT)"
	@echo "make test   - install everything and run the whole test suite"
	@echo "make bench  - run the benchmarks and write bench/results.md"
	@echo "make fuzz   - long fuzz runs (dev host HTTP, emulator) and property tests; figures in tests/README.md"
	@echo "make soak   - a few minutes of random edits and injected faults; figures in bench/results-soak.md"
	@echo "make audit  - known vulnerabilities in what ships (pip-audit, npm audit)"
	@echo "make lint   - ruff (check, format), mypy (strict on codestream/, emulator/), then lint-js"
	@echo "make lint-js - the JavaScript's types (tsc) and lint (ESLint)"
	@echo "make smoke  - a real streamer and watcher end to end: WEB=<site> API=<api> (default: make run's)"
	@echo "make infra-mutations - re-introduce each known deploy defect and show tests/infra failing"

$(PY_STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# Checkers for infra/ (checkov, pycep) in their own venv: checkov's dependency tree is large.
INFRA_STAMP := .venv-infra/.installed
$(INFRA_STAMP): infra/requirements-check.txt
	$(PYTHON) -m venv .venv-infra
	.venv-infra/bin/pip install --quiet --upgrade pip
	.venv-infra/bin/pip install --quiet -r infra/requirements-check.txt
	touch $@

infra-tools: $(INFRA_STAMP)

$(WEB_STAMP): static_web/package.json static_web/package-lock.json
	cd static_web && npm ci --no-audit --no-fund
	touch $@

# Azurite (Microsoft's storage emulator), started by the dev host and the tests.
$(DEVHOST_STAMP): devhost/package.json devhost/package-lock.json
	cd devhost && npm ci --no-audit --no-fund
	touch $@

$(NODE_HARNESS_STAMP): harness/node/package.json harness/node/package-lock.json
	cd harness/node && npm ci --no-audit --no-fund
	touch $@

$(DIST_STAMP): $(WEB_STAMP) $(WEB_SOURCES)
	cd static_web && npm run build
	touch $@

# Debian's Chromium for the browser tests; installed once, as root (CI runs as root).
chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "Chromium is missing: run 'sudo apt-get install chromium' (Debian) once." >&2; exit 1; fi; \
	fi

setup: $(PY_STAMP) $(WEB_STAMP) $(DEVHOST_STAMP)

build: setup $(DIST_STAMP)

run: build
	$(BIN)/python -m devhost --port $(PORT) --emulator-port $(EMULATOR_PORT) --storage-port $(STORAGE_PORT)

lint: $(PY_STAMP) lint-js
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The JavaScript's habits: types (tsc over `// @ts-check` files, JSDoc; static_web/tsconfig.json
# and static_web/test/tsconfig.json) and lint (ESLint, static_web/eslint.config.js, run from
# here so that it reaches harness/node) of the client, its tests and the bench's Node driver.
JS_BIN := static_web/node_modules/.bin
JS_LINTED := static_web/src static_web/test static_web/eslint.config.js static_web/build.mjs harness/node
lint-js: $(WEB_STAMP) $(NODE_HARNESS_STAMP)
	$(JS_BIN)/tsc -p static_web
	$(JS_BIN)/tsc -p static_web/test
	$(JS_BIN)/eslint --config static_web/eslint.config.js $(JS_LINTED)

# The installs are independent (pip, npm, apt), so they run side by side. The tests that need no
# browser run on every core (pytest-xdist, one worker per file so that module fixtures are
# shared); the browser tests then run alone, because their timings assume a machine that is
# not also running a hundred other tests.
test-setup: build $(NODE_HARNESS_STAMP) chromium $(INFRA_STAMP)

test:
	$(MAKE) --no-print-directory -j4 test-setup
	$(MAKE) --no-print-directory lint
	$(BIN)/python -m tools.audit
	$(BIN)/pytest -n auto --dist loadfile -m "not e2e"
	$(BIN)/pytest -m e2e

# Known vulnerabilities in what ships (pip-audit, npm audit --omit=dev); part of `make test`.
audit: $(PY_STAMP) $(WEB_STAMP)
	$(BIN)/python -m tools.audit

# The long fuzz runs (`make test` runs short ones). FUZZ_REQUESTS / FUZZ_STORAGE_REQUESTS /
# FUZZ_REPLAY_REQUESTS / FUZZ_FRAMES to vary.
fuzz: build
	$(BIN)/python -m tools.fuzz.http --requests $${FUZZ_REQUESTS:-5000} --storage-requests $${FUZZ_STORAGE_REQUESTS:-5000} --replay-requests $${FUZZ_REPLAY_REQUESTS:-5000}
	$(BIN)/python -m tools.fuzz.emulator --frames $${FUZZ_FRAMES:-5000}
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest tests/property -q
	cd static_web && FC_RUNS=5000 node --test test/*.property.test.js

bench: build chromium $(NODE_HARNESS_STAMP)
	$(BIN)/python -m bench

# End-to-end check of a running deployment (tools/smoke.py); azd's postdeploy hook runs it too.
WEB ?= http://localhost:$(PORT)
API ?= $(WEB)
smoke: $(PY_STAMP)
	$(BIN)/python -m tools.smoke --web $(WEB) --api $(API)

# Each deploy defect of issue 10, planted alone in a copy of the repository: tests/infra must fail.
infra-mutations: build $(INFRA_STAMP)
	$(BIN)/python -m tools.mutate_infra

clean:
	rm -rf $(VENV) .venv-infra static_web/node_modules static_web/dist harness/node/node_modules devhost/node_modules .pytest_cache .ruff_cache

# The long soak (a few minutes; `make test` runs a 30 s form): random edits and injected faults,
# figures appended to bench/results-soak.md. SOAK_SECONDS=600 / CODESTREAM_SOAK_SEED=n to vary.
soak: build chromium
	CODESTREAM_SOAK_SECONDS=$${SOAK_SECONDS:-240} CODESTREAM_SOAK_RECORD=bench/results-soak.md \
	  $(BIN)/pytest tests/e2e/test_faults_soak.py -q -s
