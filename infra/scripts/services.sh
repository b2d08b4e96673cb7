#!/usr/bin/env bash
# Service start/stop shared by test.sh and bench.sh (sourced, not run): RabbitMQ (started if down) and a
# SecantusDB MongoDB wire-protocol server (pinned, in its own venv, on a free loopback port, stopped at
# the end). Expects to be sourced from the project root with `set -euo pipefail`.

SECANTUS_VERSION="0.7.0b3"
SECANTUS_VENV=".cache/secantusdb-${SECANTUS_VERSION}"
# The schema-driven fuzzer of the API contract (tests/integration/api/test_app_schemathesis.py), test-only.
SCHEMATHESIS_VERSION="4.32.5"
SCHEMATHESIS_VENV=".cache/schemathesis-${SCHEMATHESIS_VERSION}"
PYTHON="${PYTHON:-python3}"
LOG_TAG="${LOG_TAG:-test}"

log() { echo "[${LOG_TAG}] $*" >&2; }

port_open() {
  "$PYTHON" - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(0.5)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
PY
}

wait_port() {
  local port=$1 seconds=$2
  for _ in $(seq 1 $((seconds * 4))); do
    port_open "$port" && return 0
    sleep 0.25
  done
  return 1
}

ensure_rabbitmq() {
  if port_open 5672; then
    log "RabbitMQ is up on 127.0.0.1:5672"
    return
  fi
  log "starting RabbitMQ (rabbitmq-server -detached)"
  rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_port 5672 90 || { log "RabbitMQ did not come up on 5672"; exit 1; }
  # The port opens before the broker accepts AMQP logins; give the app a moment.
  rabbitmqctl await_startup >/dev/null 2>&1 || sleep 3
}

ensure_secantus() {
  if [ ! -x "${SECANTUS_VENV}/bin/secantusd-py" ]; then
    log "installing SecantusDB ${SECANTUS_VERSION} (test-only, GPL) into ${SECANTUS_VENV}"
    "$PYTHON" -m venv "${SECANTUS_VENV}"
    "${SECANTUS_VENV}/bin/pip" install --quiet --disable-pip-version-check "secantusdb==${SECANTUS_VERSION}" 2>/dev/null
  fi
}

ensure_schemathesis() {
  if [ ! -x "${SCHEMATHESIS_VENV}/bin/st" ]; then
    log "installing schemathesis ${SCHEMATHESIS_VERSION} (test-only) into ${SCHEMATHESIS_VENV}"
    "$PYTHON" -m venv "${SCHEMATHESIS_VENV}"
    "${SCHEMATHESIS_VENV}/bin/pip" install --quiet --disable-pip-version-check "schemathesis==${SCHEMATHESIS_VERSION}" 2>/dev/null
  fi
}

start_secantus() {
  SECANTUS_DIR=$(mktemp -d -t rs-secantus-XXXXXX)
  SECANTUS_PORT=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${SECANTUS_VENV}/bin/secantusd-py" --host 127.0.0.1 --port "$SECANTUS_PORT" --storage-path "$SECANTUS_DIR/data" \
    --log-level WARNING >"$SECANTUS_DIR/server.log" 2>&1 &
  SECANTUS_PID=$!
  if ! wait_port "$SECANTUS_PORT" 60; then
    log "SecantusDB did not start:"; cat "$SECANTUS_DIR/server.log" >&2; exit 1
  fi
  log "SecantusDB ${SECANTUS_VERSION} on 127.0.0.1:${SECANTUS_PORT} (pid ${SECANTUS_PID})"
}

stop_secantus() {
  if [ -n "${SECANTUS_PID:-}" ]; then
    kill "$SECANTUS_PID" 2>/dev/null || true
    wait "$SECANTUS_PID" 2>/dev/null || true
  fi
  [ -n "${SECANTUS_DIR:-}" ] && rm -rf "$SECANTUS_DIR"
}

# The console's browser tests drive Debian's Chromium and its driver; CI on a fresh machine installs them.
ensure_chromium() {
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    return
  fi
  log "installing Debian's chromium and chromium-driver for the browser tests"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    sudo apt-get update -qq >/dev/null && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
}

# Everything the suite and the benchmarks need, stopped when the sourcing script exits; then the
# RS_TEST_* variables point at it.
start_services() {
  ensure_rabbitmq
  ensure_secantus
  trap stop_secantus EXIT
  start_secantus
  export RS_TEST_MONGODB_URI="mongodb://127.0.0.1:${SECANTUS_PORT}/?directConnection=true"
  # A vhost of its own may be given (parallel runs on one broker); the default vhost otherwise.
  export RS_TEST_AMQP_URL="${RS_TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2F}"
}
