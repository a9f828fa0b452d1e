# The two commands: `make demo` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
BIN := $(VENV)/bin

.PHONY: demo test test-clock lint typecheck unit system-deps bench dashboards clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	$(BIN)/sitegate demo

system-deps:
	scripts/system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check gateway tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy --strict gateway
	$(BIN)/mypy --strict -p scripts.dashboards

# Test files run in parallel worker processes: most of the suite waits on real servers
# (mosquitto, PostgreSQL, Chromium), so three workers on two cores roughly halve the wall time.
TEST_WORKERS ?= 3

unit: $(STAMP) system-deps
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

test: lint typecheck unit

# The whole suite a year ahead and on 2028-02-29 (time-machine): no test depends on today's date.
test-clock: $(STAMP) system-deps
	scripts/test-moved-clock.sh

# The Grafana dashboards (dashboards/*.json) from their typed builders in scripts/dashboards/;
# make test fails when the committed JSON differs from what this writes.
dashboards: $(STAMP)
	$(BIN)/python -m scripts.dashboards

bench: $(STAMP) system-deps
	$(BIN)/python bench/bench_ingest.py

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
