VENV ?= .venv
PYTHON := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
NNPLAY_CHROMIUM ?= /usr/bin/chromium
export NNPLAY_CHROMIUM

.PHONY: run test lint npm bench bench-engine bench-browser venv venv-check chromium

run: venv
	$(VENV)/bin/nnplay serve --host $(HOST) --port $(PORT)

test: venv chromium lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PYTHON) -m pytest

lint: node_modules/.installed
	npx --no-install eslint web/

bench: venv
	$(PYTHON) -m server.bench

bench-engine: venv
	$(PYTHON) -m engine.bench

bench-browser: venv chromium
	$(PYTHON) -m server.browserbench

venv: venv-check
	@$(MAKE) --no-print-directory $(VENV)/.installed

# A venv whose python or pip does not run (an interrupted or failed `python3 -m venv`) is removed and rebuilt.
venv-check:
	@if [ -e $(VENV) ] && ! $(PYTHON) -m pip --version >/dev/null 2>&1; then \
		echo "$(VENV) is broken (its python or pip does not run): removing it to build it again"; \
		rm -rf $(VENV); \
	fi

$(VENV)/.installed: pyproject.toml
	@test -d $(VENV) || python3 -m venv $(VENV) || { rm -rf $(VENV); \
		echo "python3 -m venv failed: on Debian or Ubuntu install python3-venv (apt-get install python3-venv)"; exit 1; }
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[dev]'
	touch $@

# ESLint for web/ comes from npm at the versions in package-lock.json, installed again when the lock changes.
node_modules/.installed: package-lock.json | npm
	npm ci --no-audit --no-fund
	touch $@

npm:
	@if command -v npm >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && apt-get install -y -qq npm; \
	else \
		echo "No npm (Node.js's package manager) for ESLint: install Node.js with npm ('sudo apt-get install npm')"; \
		exit 1; \
	fi

# The browser tests run Chromium at $NNPLAY_CHROMIUM; Debian's chromium is installed when that is the default path.
chromium:
	@if [ -x "$(NNPLAY_CHROMIUM)" ]; then exit 0; fi; \
	if [ "$(NNPLAY_CHROMIUM)" != /usr/bin/chromium ]; then \
		echo "NNPLAY_CHROMIUM=$(NNPLAY_CHROMIUM) is not an executable Chromium"; exit 1; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && apt-get install -y -qq chromium; \
	else \
		echo "No Chromium at /usr/bin/chromium and not root: run 'sudo apt-get install chromium'," \
			"or point NNPLAY_CHROMIUM at a Chromium or Chrome binary (make test NNPLAY_CHROMIUM=/path/to/chrome)"; \
		exit 1; \
	fi
