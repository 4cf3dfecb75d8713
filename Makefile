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

demo: $(STAMP)
	$(BIN)/python -m toolkit demo

test: $(STAMP)
	sh scripts/ensure-chromium.sh
	$(BIN)/python -m pytest -q

sandbox: $(STAMP)
	$(BIN)/python -m toolkit sandbox

bench: $(STAMP)
	$(BIN)/python tests/benchmarks/sandbox_polls.py --out test-output/bench/sandbox_polls.json
	$(BIN)/python tests/benchmarks/bench_jobs.py --out test-output/bench
	$(BIN)/python tests/benchmarks/bench_monitor.py --out test-output/bench
	$(BIN)/python tests/benchmarks/detections.py
	$(BIN)/python tests/benchmarks/features.py

clean:
	rm -rf $(VENV) .toolkit reports test-output
