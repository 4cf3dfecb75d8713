# Quick start: `make demo` runs the main job, `make test` runs the tests. Both set themselves up.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The whole environment, every package pinned with its hashes (`make lock` writes it from pyproject.toml).
LOCK := requirements.lock
UV := $(BIN)/uv

.PHONY: setup lock upgrade-lock demo test notebooks sandbox bench clean

# One line per step (uv's download and install lines are quieted; its errors still show). uv (itself pinned and hash-checked from the lock) installs exactly the lock: nothing
# is resolved on the user's machine, and a package the lock does not name is removed.
$(STAMP): pyproject.toml $(LOCK)
	@echo "==> [setup 1/3] creating the environment $(VENV) with $$($(PY) -V 2>&1)"
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo "==> [setup 2/3] installing the installer: $$(grep -o '^uv==[^ ]*' $(LOCK)), hash-checked"
	@sed -n '/^uv==/,/^    #/p' $(LOCK) > $(VENV)/uv-requirement.txt
	@$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --require-hashes -r $(VENV)/uv-requirement.txt
	@echo "==> [setup 3/3] installing every package pinned in $(LOCK), then the project"
	@$(UV) pip sync --quiet --python $(BIN)/python --require-hashes $(LOCK)
	@$(UV) pip install --python $(BIN)/python --no-deps --no-build-isolation -e . 2>&1 | tail -n 1
	@$(BIN)/python -c 'import toolkit' && touch $(STAMP)
	@echo "==> [setup] done: $(VENV) matches $(LOCK)"

# `make lock` re-resolves the lock from pyproject.toml, keeping every pin that still fits (after adding or
# changing a dependency); `make upgrade-lock` moves every package to its newest compatible release. Either is a
# deliberate act: run it, then `make test`, and commit the lock with whatever the tests made you change.
LOCK_CMD = $(UV) pip compile pyproject.toml --extra dev --group pyproject.toml:setup --generate-hashes --universal \
	  --python-version 3.11 --custom-compile-command "make lock" -o $(LOCK)
lock: $(STAMP)
	$(LOCK_CMD)
upgrade-lock: $(STAMP)
	$(LOCK_CMD) --upgrade

setup: $(STAMP)

# The notebooks against the embedded sandbox -> reports/index.html (workspace: notebooks/.toolkit).
# A second run re-uses the ledger: nothing is submitted again. API keys are ignored (see toolkit/demo.py).
demo: $(STAMP)
	@echo "==> [demo] running the notebooks against the embedded sandbox"
	$(BIN)/python -m toolkit demo

# Unit, contract, client, browser... tests, then the notebooks with nbval on a fresh workspace (never the
# demo's ledger): cells tagged nbval-check-output must reproduce their committed output (sanitize.cfg masks
# ids, times, ports, paths). Every service variable is unset so the notebooks always meet the sandbox.
NO_SERVICES = env $$($(BIN)/python -c 'from toolkit.workspace import service_variables as v; print(*("-u " + x for x in v()))')
NBVAL_WS := $(CURDIR)/test-output/nbval
test: $(STAMP)
	@echo "==> [test 1/4] lint and types: ruff check, ruff format --check, mypy (fail fast)"
	$(BIN)/ruff check toolkit tests
	$(BIN)/ruff format --check -q toolkit tests
	$(BIN)/mypy
	@echo "==> [test 2/4] the browser for the widget test (Debian's chromium)"
	@sh scripts/ensure-chromium.sh
	@echo "==> [test 3/4] pytest: unit, contract, client, reliability, browser and notebook tests"
	$(BIN)/python -m pytest -q
	@echo "==> [test 4/4] nbval: the notebooks' checked outputs"
	@rm -rf $(NBVAL_WS)
	$(NO_SERVICES) TOOLKIT_WORKSPACE=$(NBVAL_WS)/.toolkit TOOLKIT_SANDBOX_TIME_SCALE=0.002 \
	  $(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env \
	  --nbval-sanitize-with notebooks/sanitize.cfg notebooks

# Re-record the notebooks' committed outputs (what nbval compares against) on a fresh workspace, scrubbed of
# this machine's paths and ports. Review the diff before committing it.
notebooks: $(STAMP)
	$(BIN)/python -m toolkit.recording notebooks/[0-9][0-9]_*.ipynb

sandbox: $(STAMP)
	$(BIN)/python -m toolkit sandbox

bench: $(STAMP)
	$(BIN)/python tests/benchmarks/sandbox_polls.py --out test-output/bench/sandbox_polls.json
	$(BIN)/python tests/benchmarks/bench_jobs.py --out test-output/bench
	$(BIN)/python tests/benchmarks/bench_monitor.py --out test-output/bench
	$(BIN)/python tests/benchmarks/bench_inputs.py --out test-output/bench
	$(BIN)/python tests/benchmarks/detections.py --out test-output/bench/detections.json
	$(BIN)/python tests/benchmarks/features.py --out test-output/bench/features.json

clean:
	rm -rf $(VENV) .toolkit reports test-output notebooks/.toolkit notebooks/outputs
