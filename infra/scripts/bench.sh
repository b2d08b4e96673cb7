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
.venv/bin/python -m devtools bench "$@"
