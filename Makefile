# One entry point for people and CI: `make demo` and `make test` work on a fresh
# Debian machine with Python 3.11 and nothing else done by hand.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: all venv system-packages demo test lint typecheck unit crds bench soak clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,report,testbed]'
	touch $(STAMP)

venv: $(STAMP)

# The testbed uses the real Prometheus server, and the deploy tests render
# deploy/ with `kubectl kustomize`. Install Debian's packages when they are
# missing and we are root; otherwise say how (the demo still runs without them).
APT_PACKAGES := $(if $(shell command -v prometheus),,prometheus) $(if $(shell command -v kubectl),,kubernetes-client)

system-packages:
	@if [ -z "$(strip $(APT_PACKAGES))" ]; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing from Debian's packages: $(strip $(APT_PACKAGES))"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	else \
	  echo "missing: $(strip $(APT_PACKAGES)); run 'sudo apt-get install $(strip $(APT_PACKAGES))'"; \
	fi

demo: venv system-packages
	$(BIN)/canary demo --mesh istio --scenario healthy

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

test: venv system-packages lint
	$(BIN)/pytest -q

crds: venv
	$(BIN)/canary crds --out crds

bench: venv
	$(BIN)/python benchmarks/detection.py

# Fault soak: many seeded drills per mesh (kills, API faults, the persist->converge gap, Prometheus
# outages); not part of `make test`, which runs one short drill per mesh. Writes benchmarks/results/soak.md.
soak: venv system-packages
	$(BIN)/python benchmarks/soak.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
