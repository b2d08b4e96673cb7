#!/usr/bin/env bash
# `make bench`: every hot path against a baseline measured in the same run, on the services the tests
# use (RabbitMQ, and a SecantusDB started here on a free loopback port and stopped at the end).
# Prints a table and writes bench/results.json.
set -euo pipefail
cd "$(dirname "$0")/../.."

LOG_TAG=bench
# shellcheck source=infra/scripts/services.sh
source infra/scripts/services.sh
start_services
# Bytecode for the project's modules, as the job's image has it (pip compiles at install): with
# PYTHONDONTWRITEBYTECODE set (as on some machines) nothing writes it, and every sandbox child would
# compile the wrapper toolkit from source again (about 28 ms of CPU), which the job's image never does.
.venv/bin/python -m compileall -q -j 0 shared functions jobs >/dev/null
.venv/bin/python -m devtools bench "$@"
