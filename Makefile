# One way to do each thing. Every target refreshes the virtual environment it needs.
PYTHON ?= python3
SHELL  := /bin/bash
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check bench soak bounds serve emulator clean dist

# The venv installs the exact versions of requirements/lock.txt (runtime and dev), so a new
# release never changes what `make check` sees; pyproject.toml keeps the ranges users get.
LOCK   := requirements/lock.txt
EXTRAS := dev,testing,flask,django

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'pip==$(PIP_VERSION)'
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[$(EXTRAS)]'
	@touch $(STAMP)

PIP_VERSION := $(shell sed -n 's/^\# pip==//p' $(LOCK))

.PHONY: lock newest
# A new lock from the newest releases pyproject.toml admits; prints what changed.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet '.[$(EXTRAS)]'
	{ sed -n '/^#/p' $(LOCK) | grep -v '^# pip=='; \
	  echo "# pip==$$(.venv-lock/bin/python -m pip --version | cut -d' ' -f2)"; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable | grep -iv '^wixapp' | LC_ALL=C sort -f; \
	} > $(LOCK).new
	@diff <(grep -v '^#' $(LOCK)) <(grep -v '^#' $(LOCK).new) | sed -n 's/^[<>] //p' | sort -f \
	  | awk -F'==' '{v[$$1]=v[$$1] ? v[$$1]" -> "$$2 : $$2} END {n=0; for (p in v) {print "  " p ": " v[p]; n++} if (!n) print "  nothing changed"}'
	mv $(LOCK).new $(LOCK) && rm -rf .venv-lock

# `make check` and the fast tests against the newest releases, in a throwaway venv: what an
# upgrade would break, seen before the lock takes it. The project's venv is not touched.
NEWEST_VENV := .venv-newest
newest: $(BUNDLES)
	rm -rf $(NEWEST_VENV) && $(PYTHON) -m venv $(NEWEST_VENV)
	$(NEWEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(NEWEST_VENV)/bin/python -m pip install --quiet --upgrade -e '.[$(EXTRAS)]'
	@echo "make newest: releases newer than $(LOCK):"
	@$(NEWEST_VENV)/bin/python -m pip freeze --exclude-editable | grep -iv '^wixapp' | LC_ALL=C sort -f \
	  | diff <(grep -v '^#' $(LOCK)) - | sed -n 's/^> /  /p' | grep . || echo "  none"
	$(MAKE) --no-print-directory check-with BIN=$(NEWEST_VENV)/bin
	$(NEWEST_VENV)/bin/python -m pytest -m "not slow and not browser and not multiprocess" -q -x
	rm -rf $(NEWEST_VENV)

demo: $(STAMP)
	$(BIN)/wixapp demo $(DEMO_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: $(STAMP) check-with

.PHONY: check-with
check-with:
	$(BIN)/ruff check src tests soak examples
	$(BIN)/ruff format --check src tests soak examples
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# The benchmark (bench/, see README "Benchmarks"): ~10 minutes, not part of `make test`.
# BENCH_ARGS passes options to bench/run.py, e.g. BENCH_ARGS="--quick" or "--profile=always".
BENCH_NODE_DEPS := bench/node/node_modules/.package-lock.json

$(BENCH_NODE_DEPS): bench/node/package.json bench/node/package-lock.json
	cd bench/node && $(NPM) ci --ignore-scripts --no-audit --no-fund
	@touch $@

# The Node peers (bench/node: Express + axios, locked) are installed here, not by `make test`.
bench: $(STAMP) $(BENCH_NODE_DEPS)
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "make bench: installing wrk (apt-get)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq wrk; }
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# The soak (soak/run.py): mixed load with injected faults on loopback, SOAK_SECONDS long
# (default 600), then RSS, unexplained 5xx and lost writes in artifacts/soak.json. Not part
# of `make test`. SOAK_ARGS passes options, e.g. SOAK_ARGS="--seconds 90".
soak: $(STAMP)
	$(BIN)/python soak/run.py $(SOAK_ARGS)

# Memory at full bounds (soak/bounds.py): one worker's RSS with every bounded structure filled,
# per 10 000 entries, then BOUNDS_SECONDS (default 300) of load; artifacts/bounds.json.
bounds: $(STAMP)
	$(BIN)/python soak/bounds.py $(BOUNDS_ARGS)

clean:
	rm -rf $(VENV) .venv-lock $(NEWEST_VENV) build dist src/*.egg-info

# The sdist and the wheel in dist/, both with the built bundles (setup.py): the wheel is
# built from the sdist, as an installer would; then both archives' contents are listed.
dist: $(STAMP) frontend
	rm -rf dist
	@mkdir -p dist
	$(BIN)/python -m build --outdir dist > dist/build.log 2>&1 || { tail -40 dist/build.log; exit 1; }
	@rm -f dist/build.log
	@for archive in dist/*.tar.gz; do echo "$$archive: $$(tar tzf "$$archive" | wc -l) files, $$(du -h "$$archive" | cut -f1)"; done
	@for archive in dist/*.whl; do echo "$$archive: $$($(BIN)/python -m zipfile -l "$$archive" | tail -n +2 | wc -l) files, $$(du -h "$$archive" | cut -f1)"; done
	@echo "(list an archive: tar tzf dist/*.tar.gz, python -m zipfile -l dist/*.whl)"

# ---- frontend: the widget, panel and dashboard bundles (src/wixapp/static/) and the emulator's
# host pages' scripts (src/wixapp/emulator/pages/*-host.js), built by esbuild from frontend/ with the
# locked npm packages. `make test` and `make demo` build them when missing or stale.
NPM           ?= npm
NODE          ?= node
FRONTEND      := frontend
FRONTEND_DEPS := $(FRONTEND)/node_modules/.package-lock.json
FRONTEND_SRC  := $(FRONTEND)/build.mjs $(FRONTEND)/package-lock.json \
                 $(wildcard $(FRONTEND)/src/*.js $(FRONTEND)/src/*.jsx $(FRONTEND)/src/*/*.js \
                            $(FRONTEND)/src/*/*.jsx)
BUNDLES       := src/wixapp/static/widget.js src/wixapp/static/panel.js \
                 src/wixapp/static/widget-react.js src/wixapp/emulator/pages/editor-host.js \
                 src/wixapp/static/cli-widget.js src/wixapp/static/cli-widget-react.js \
                 src/wixapp/static/cli-panel.js src/wixapp/emulator/pages/site-host.js \
                 src/wixapp/emulator/pages/dashboard-host.js src/wixapp/static/dashboard.js

.PHONY: frontend clean-frontend
frontend: $(BUNDLES)
demo test: $(BUNDLES)
clean: clean-frontend

$(FRONTEND_DEPS): $(FRONTEND)/package.json $(FRONTEND)/package-lock.json
	cd $(FRONTEND) && $(NPM) ci --ignore-scripts --no-audit --no-fund
	@touch $@

# One build writes all the files. A pattern rule with several targets (here `%` stands
# for the dot) runs its recipe once for all of them, in every make version.
src/wixapp/static/widget%js src/wixapp/static/panel%js src/wixapp/static/widget-react%js \
src/wixapp/emulator/pages/editor-host%js src/wixapp/static/cli-widget%js \
src/wixapp/static/cli-widget-react%js src/wixapp/static/cli-panel%js \
src/wixapp/emulator/pages/site-host%js src/wixapp/emulator/pages/dashboard-host%js \
src/wixapp/static/dashboard%js: $(FRONTEND_DEPS) $(FRONTEND_SRC)
	cd $(FRONTEND) && $(NODE) build.mjs

clean-frontend:
	rm -rf $(FRONTEND)/node_modules $(BUNDLES)

# ---- Debian's chromium for the browser tests (Playwright drives it; it never downloads one).
CHROMIUM ?= /usr/bin/chromium
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
test: $(CHROMIUM)

$(CHROMIUM):
	@echo "Installing Debian's chromium for the browser tests"
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium

# ---- Debian's redis-server: the Redis tests' private servers and their 3-master Redis Cluster
# (tests/scale/harness.py) run it on loopback ports.
REDIS_SERVER ?= /usr/bin/redis-server
test: $(REDIS_SERVER)

$(REDIS_SERVER):
	@echo "Installing Debian's redis-server for the Redis and Redis Cluster tests"
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends redis-server
