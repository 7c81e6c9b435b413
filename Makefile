# One way to do each thing. Every target refreshes the virtual environment it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check bench soak bounds serve emulator clean dist

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/wixapp demo $(DEMO_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: $(STAMP)
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
	rm -rf $(VENV) build dist src/*.egg-info

# The sdist and the wheel in dist/, both with the built bundles (setup.py): the wheel is
# built from the sdist, as an installer would; then both archives' contents are listed.
dist: $(STAMP) frontend
	rm -rf dist
	$(BIN)/python -m build --outdir dist
	@for archive in dist/*.tar.gz; do echo "== $$archive"; tar tzf "$$archive"; done
	@for archive in dist/*.whl; do echo "== $$archive"; $(BIN)/python -m zipfile -l "$$archive"; done

# ---- frontend: the widget and panel bundles (src/wixapp/static/) and the emulator's editor
# host (src/wixapp/emulator/pages/editor-host.js), built by esbuild from frontend/ with the
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
                 src/wixapp/static/cli-panel.js src/wixapp/emulator/pages/site-host.js

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
src/wixapp/emulator/pages/site-host%js: $(FRONTEND_DEPS) $(FRONTEND_SRC)
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
