PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install test unit lint format bench dev lock clean

install: $(BIN)/resource-service

$(BIN)/resource-service: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[data,gemini,plot,local,dev]'
	touch $@

test: install
	bash infra/scripts/test.sh

unit: install
	$(BIN)/pytest -q tests/unit

lint: install
	$(BIN)/ruff check shared functions jobs devtools tests
	$(BIN)/ruff format --check shared functions jobs devtools tests
	$(BIN)/mypy shared functions jobs devtools

format: install
	$(BIN)/ruff format shared functions jobs devtools tests
	$(BIN)/ruff check --fix shared functions jobs devtools tests

lock:
	rm -rf /tmp/rs-lock-venv && $(PYTHON) -m venv /tmp/rs-lock-venv
	/tmp/rs-lock-venv/bin/pip install --quiet '.[data,gemini,plot,local,dev]'
	/tmp/rs-lock-venv/bin/pip freeze --exclude resource-service > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

.PHONY: validate-template package-check

validate-template:
	bash infra/scripts/check_template.sh

package-check: install
	$(BIN)/python infra/scripts/package_check.py

.PHONY: dev
dev: install
	$(BIN)/python -m devtools dev

bench: install
	bash infra/scripts/bench.sh $(ARGS)
