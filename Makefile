# gonka-deploy developer and operator shortcuts. Everything runs from the repo root.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
N      ?= 2

.PHONY: deps venv test lint audit inventory-docs validate render prometheus-targets demo sandbox-up \
	sandbox-down sandbox-status bench

# pip and setuptools as Python 3.11's venv ships them (23.2.1, 65.5.0) carry known advisories
# (pip CVE-2023-5752, setuptools CVE-2024-6345): pinned releases replace them first.
VENV_TOOLS := pip==26.3 setuptools==84.2.1

# The venv is (re)built when pyproject.toml (or VENV_TOOLS here) changes: pinned dependencies only.
$(VENV)/.installed: pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(VENV_TOOLS)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

# The Debian packages the tests and the demo need (installed when missing, as root).
deps:
	scripts/debian-deps.sh

lint: venv
	$(BIN)/ruff check .

# Known advisories in what the venv holds (pip-audit; exceptions in scripts/audit-exceptions.toml).
# Exit 1: an advisory not excepted; 2: no audit (no answer after retries). Either fails `make test`.
audit: venv
	$(BIN)/python scripts/audit.py

test: deps lint audit
	$(BIN)/python -m pytest -q -ra

inventory-docs: venv
	$(BIN)/gonka-deploy inventory-docs

validate: venv
	$(BIN)/gonka-deploy validate $(or $(INVENTORY),inventories/prod.py)

render: venv
	$(BIN)/gonka-deploy render $(or $(INVENTORY),inventories/prod.py) --out rendered

prometheus-targets: venv
	$(BIN)/gonka-deploy prometheus-targets $(or $(INVENTORY),inventories/prod.py) \
		--out prometheus-targets.json

sandbox-up: venv
	$(BIN)/python -m sandbox up $(N)

sandbox-down: venv
	$(BIN)/python -m sandbox down

sandbox-status: venv
	$(BIN)/python -m sandbox status

demo: deps venv
	BIN=$(BIN) N=$(N) sandbox/demo.sh

# Fleet no-op figures (bench/noop.py): HOSTS hosts, RTT ms added to each SSH round trip;
# BENCH_ARGS=--compare measures the no-op as before too.
HOSTS ?= 20
RTT   ?= 50
bench: deps venv
	$(BIN)/python bench/noop.py --hosts $(HOSTS) --rtt-ms $(RTT) $(BENCH_ARGS)
