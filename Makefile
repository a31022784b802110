# dyngen: `make run` serves the embedded default; `make test` runs the whole suite; `make docs` builds the site.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# The web editor (web/, Vite) is built into the package's static folder, served at `/`.
WEB := web
EDITOR_DIR := src/dyngen/entrypoints/api/static
EDITOR_STAMP := $(EDITOR_DIR)/.stamp-build
WEB_SOURCES := $(shell find $(WEB) -path $(WEB)/node_modules -prune -o -type f -print 2>/dev/null)
# playwright-core for the browser tests (tests/browser), from npm.
BROWSER := tests/browser
# The TypeScript client (@dyngen/client), built and tested against a real `dyngen serve` its tests start.
CLIENT_TS := clients/typescript

.PHONY: run test lint unit bench install clean bytecode editor web-test browser-deps ts-client-test client-build docs

# The Python client (clients/python) is a distribution of its own, installed beside for tests/clients.
$(STAMP): pyproject.toml clients/python/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' -e clients/python
	@touch $(STAMP)

install: $(STAMP)

# `npm ci` when node_modules is missing or older than the lockfile (npm's own copy of the lockfile in
# node_modules dates the install), then `npm run build`; the stamp skips both while nothing in web/ changed.
$(WEB)/node_modules/.package-lock.json: $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund
	@touch $@

$(EDITOR_STAMP): $(WEB)/node_modules/.package-lock.json $(WEB_SOURCES)
	cd $(WEB) && npm run build
	@touch $@

# Without npm the server still runs (`/` says how to build the editor); under DYNGEN_REQUIRE_SERVICES=1 it fails.
editor:
	@if [ ! -f $(WEB)/package.json ]; then echo "web/package.json not found: no editor to build"; \
	elif ! command -v npm >/dev/null 2>&1; then \
	  echo "npm not found: the editor is not built (it needs Node.js 20.19+ with npm)"; \
	  test "$$DYNGEN_REQUIRE_SERVICES" != 1; \
	else $(MAKE) --no-print-directory $(EDITOR_STAMP); fi

$(BROWSER)/node_modules/.package-lock.json: $(BROWSER)/package-lock.json
	cd $(BROWSER) && npm ci --no-audit --no-fund
	@touch $@

browser-deps:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory $(BROWSER)/node_modules/.package-lock.json; \
	else echo "npm not found: the browser tests will skip"; test "$$DYNGEN_REQUIRE_SERVICES" != 1; fi

# The editor's own tests (TypeScript, node:test), its lint (ESLint: typescript-eslint and React hooks) and
# the check that types.gen.ts matches schema.json (tests/unit/test_web_types.py checks schema.json against
# the Python models).
web-test: editor
	@if command -v npm >/dev/null 2>&1 && [ -d $(WEB)/node_modules ]; then \
	  cd $(WEB) && npm test --silent && npm run --silent lint && npm run --silent check:types; \
	else echo "npm not found: the editor's own tests are skipped"; test "$$DYNGEN_REQUIRE_SERVICES" != 1; fi

$(CLIENT_TS)/node_modules/.package-lock.json: $(CLIENT_TS)/package-lock.json
	cd $(CLIENT_TS) && npm ci --no-audit --no-fund
	@touch $@

# Builds the client (types copied from the editor's generated web/src/api/types.gen.ts), runs its node:test
# suite (a real `dyngen serve` of this venv, started by the tests) and checks that `npm pack` succeeds.
ts-client-test: $(STAMP)
	@if command -v npm >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory $(CLIENT_TS)/node_modules/.package-lock.json && \
	  cd $(CLIENT_TS) && npm test --silent && npm pack --dry-run --silent >/dev/null; \
	else echo "npm not found: the TypeScript client's tests are skipped"; test "$$DYNGEN_REQUIRE_SERVICES" != 1; fi

run: $(STAMP) editor bytecode
	$(BIN)/dyngen serve --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench docs/clients/examples mkdocs_hooks.py
	$(BIN)/ruff format --check src tests bench docs/clients/examples mkdocs_hooks.py
	$(BIN)/mypy
	$(BIN)/lint-imports
	cd clients/python && ../../$(BIN)/ruff check src && ../../$(BIN)/ruff format --check src && ../../$(BIN)/mypy
	$(BIN)/ruff check --config clients/python/pyproject.toml clients/renpy/game
	$(BIN)/ruff format --check --config clients/python/pyproject.toml clients/renpy/game

# The Python client's wheel and sdist in clients/python/dist (tests/clients builds them too, into a temp dir).
client-build: $(STAMP)
	$(BIN)/python -m build --no-isolation --outdir clients/python/dist clients/python

# The documentation site (docs/, mkdocs.yml, Material theme) into site/, strict: a broken link or a missing
# anchor fails. The HTTP API, configuration and CLI reference pages are
# generated from the code at build time (mkdocs_hooks.py). Offline: no plugin fetches from the internet.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The suite runs in TEST_WORKERS processes, one test file per worker at a time (module fixtures such as four
# API processes are started once); each worker has its own PostgreSQL database and Redis key prefix.
# The other checks (lint, docs, the editor's and the TypeScript client's tests) run beside it, each one's
# output printed whole when it ends; `make test` fails when any of them or the suite fails. They run at a
# lower priority (nice 10): the suite's processes spend a third of their time waiting (servers, deadlines,
# browsers), and the checks' ~2 minutes of CPU fill those gaps instead of slowing the suite's start, when
# both test processes import and collect everything at once. Where a run's time goes: tests/support/timeline.py.
TEST_WORKERS ?= 2
CHECKS := lint docs web-test ts-client-test
test: $(STAMP) editor browser-deps bytecode
	@nice -n 10 $(MAKE) --no-print-directory -j $(words $(CHECKS)) --output-sync=target $(CHECKS) & checks=$$!; \
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile; suite=$$?; \
	wait $$checks; other=$$?; \
	if [ $$other -ne 0 ]; then echo "make test: a check beside the suite failed (see above)"; fi; \
	test $$suite -eq 0 && test $$other -eq 0

# dyngen is installed editable, so pip compiled none of its modules; where PYTHONDONTWRITEBYTECODE is set
# (as on these machines) no import caches them either, and every process compiled all of dyngen again
# (~0.3 s of CPU each). compileall writes the caches whatever that variable says (only what changed):
# dyngen, the Python client and the tests' support modules. The test modules themselves are compiled by
# pytest's assertion rewriting, which caches them only where bytecode may be written: the suite runs with
# that variable emptied, so a second run loads them (collection: 20 -> 13.6 s of CPU per test process).
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q src clients/python/src tests/support tests/fakes.py > /dev/null

unit: $(STAMP) bytecode
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest tests/unit -q -n $(TEST_WORKERS)

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .dyngen site .pytest_cache .mypy_cache .ruff_cache $(EDITOR_DIR) $(WEB)/node_modules $(BROWSER)/node_modules \
	  $(CLIENT_TS)/node_modules $(CLIENT_TS)/dist $(CLIENT_TS)/build
