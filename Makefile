# Quick start: `make demo` runs the main job, `make test` runs the tests. Both set themselves up.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test sandbox bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# The notebooks against the embedded sandbox -> reports/index.html (workspace: notebooks/.toolkit).
# A second run re-uses the ledger: nothing is submitted again. API keys are ignored (see toolkit/demo.py).
demo: $(STAMP)
	$(BIN)/python -m toolkit demo

# Unit, contract, client, browser... tests, then the notebooks with nbval on a fresh workspace (never the
# demo's ledger): cells marked "# NBVAL_CHECK_OUTPUT" must reproduce their saved output (sanitize.cfg masks
# ids, times, ports, paths). Keys are unset so the notebooks always meet the sandbox.
NO_KEYS := env -u AD_API_KEY -u SATEAIS_API_KEY -u AUTHENTA_API_KEY -u CLAID_API_KEY -u FR_API_KEY
NBVAL_WS := $(CURDIR)/test-output/nbval
test: $(STAMP)
	sh scripts/ensure-chromium.sh
	$(BIN)/python -m pytest -q
	rm -rf $(NBVAL_WS)
	$(NO_KEYS) TOOLKIT_WORKSPACE=$(NBVAL_WS)/.toolkit TOOLKIT_SANDBOX_TIME_SCALE=0.002 \
	  $(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env \
	  --nbval-sanitize-with notebooks/sanitize.cfg notebooks

sandbox: $(STAMP)
	$(BIN)/python -m toolkit sandbox

bench: $(STAMP)
	$(BIN)/python tests/benchmarks/sandbox_polls.py --out test-output/bench/sandbox_polls.json
	$(BIN)/python tests/benchmarks/bench_jobs.py --out test-output/bench
	$(BIN)/python tests/benchmarks/bench_monitor.py --out test-output/bench
	$(BIN)/python tests/benchmarks/detections.py
	$(BIN)/python tests/benchmarks/features.py

clean:
	rm -rf $(VENV) .toolkit reports test-output notebooks/.toolkit notebooks/outputs
