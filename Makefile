# One entry point for people and CI: `make demo` and `make test` work on a fresh
# Debian machine with Python 3.11 and nothing else done by hand.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: all venv prometheus demo test lint typecheck unit crds bench clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The testbed uses the real Prometheus server. Install Debian's package when it
# is missing and we are root; otherwise say how (the demo still runs without it).
prometheus:
	@if command -v prometheus >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Prometheus from Debian's packages"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	else \
	  echo "Prometheus is not installed and we are not root: run 'sudo apt-get install prometheus'"; \
	fi

demo: venv prometheus
	$(BIN)/canary demo --mesh istio --scenario healthy

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

test: venv prometheus lint
	$(BIN)/pytest -q

crds: venv
	$(BIN)/canary crds --out crds

bench: venv
	$(BIN)/python benchmarks/detection.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
