PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CODE_ROOT := $(abspath $(dir $(firstword $(MAKEFILE_LIST))))

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

# Code of the Lambda functions, built by `sam build` (template.yaml: BuildMethod makefile, CodeUri .) and by
# infra/scripts/package_check.py: SAM runs `make build-<FunctionLogicalId>` with ARTIFACTS_DIR set, and each
# function gets only the packages it imports, never tests/, devtools/, infra/ or caches. The API takes the
# stages its import rule allows (tests/unit/test_architecture.py: API_UNITS); the MQ functions every stage of
# shared/ but the command line (shared/cli, which nothing below it may import).
API_CODE := functions/__init__.py functions/api shared/__init__.py shared/py.typed \
	shared/common shared/domain shared/points shared/store shared/messaging
WRAPPER_CODE := functions/__init__.py \
	$(patsubst $(CODE_ROOT)/%,%,$(filter-out $(CODE_ROOT)/shared/cli,$(wildcard $(CODE_ROOT)/shared/*)))

# $(1): files and directories relative to the repository, copied into ARTIFACTS_DIR with their paths, then
# compiled to bytecode for the Lambda runtime (infra/scripts/compile_bytecode.py; the repository's own
# bytecode is of another interpreter and is left out).
define copy_code
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set" >&2; exit 1; }
	mkdir -p "$(ARTIFACTS_DIR)"
	tar -C "$(CODE_ROOT)" --exclude=__pycache__ --exclude='*.pyc' -cf - $(1) | tar -C "$(ARTIFACTS_DIR)" -xf -
	$(PYTHON) "$(CODE_ROOT)/infra/scripts/compile_bytecode.py" "$(ARTIFACTS_DIR)"
endef

.PHONY: build-ApiFunction build-GenerateWrapperFunction build-ValidateWrapperFunction

build-ApiFunction:
	$(call copy_code,$(API_CODE))

build-GenerateWrapperFunction:
	$(call copy_code,$(WRAPPER_CODE) functions/generate_wrapper)

build-ValidateWrapperFunction:
	$(call copy_code,$(WRAPPER_CODE) functions/validate_wrapper)
