# The two commands: `make run` serves on the embedded default, `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-detail venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m app

lint: $(STAMP)
	$(BIN)/ruff check app api health_code elderly_mode miniprogram_mock tests bench

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Every hot path on PostgreSQL + Redis, 1 and 2 workers, against a bare Sanic handler in the same run;
# writes bench/results/latest.json and latest.md.
bench: $(STAMP)
	$(BIN)/python -m bench.suite

# The older single-path benchmarks on the embedded default, with more detail each.
bench-detail: $(STAMP)
	$(BIN)/python -m bench.me_throughput
	$(BIN)/python -m bench.health_code_fetch
	$(BIN)/python -m bench.partner_verification
	$(BIN)/python -m bench.voucher_redemption
	$(BIN)/python -m bench.home_cards

clean:
	rm -rf $(VENV) .pytest_cache
