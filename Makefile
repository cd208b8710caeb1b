# The template's own tooling. Both entry points bootstrap .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.DEFAULT_GOAL := help
.PHONY: help demo test test-fast lint lock benchmarks clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements-test.txt
	touch $@

demo: $(BIN)/.installed  ## Bake the default project into build/demo, install it, run its pipeline
	$(BIN)/python scripts/demo.py

test: $(BIN)/.installed  ## Run every template test (bakes, hooks, CI files, cruft, generated suites)
	$(BIN)/python -m pytest

# Bakes of every combination, the hooks and the default project's own unit tests: seconds once
# the generated venv exists (build/generated-venv*, made by the first `make test` or this).
FAST_TESTS := tests/test_hooks.py tests/test_bake.py tests/test_determinism.py tests/test_generated_unit_tests.py

test-fast: $(BIN)/.installed  ## The quick subset: bakes, hooks, the generated unit tests
	$(BIN)/python -m pytest $(FAST_TESTS)

benchmarks: $(BIN)/.installed  ## Bake time, translator cost, the inner loop against Dagster's scaffold (docs/benchmarks.md)
	$(BIN)/python benchmarks/bake_time.py
	$(BIN)/python benchmarks/translator_overhead.py
	$(BIN)/python benchmarks/inner_loop.py

lock: $(BIN)/.installed  ## Re-resolve the generated project's uv.lock after changing its dependencies
	$(BIN)/python scripts/lock_generated.py

lint: $(BIN)/.installed  ## Lint the template's own Python
	$(BIN)/ruff check hooks tests scripts benchmarks

clean:  ## Remove build output and the venvs
	rm -rf build $(VENV)
