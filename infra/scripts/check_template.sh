#!/usr/bin/env bash
# Validate template.yaml offline: `sam validate --lint` (SAM transform + cfn-lint, as SAM runs it) and
# `cfn-lint` on its own. Both tools live in their own pinned venv under .cache/ (created on first use,
# reused after). No AWS call is made: `sam validate` without --lint would ask IAM for managed policies,
# --lint only runs cfn-lint locally; credentials are dummies, the instance metadata service is off, SAM's
# telemetry and its weekly PyPI version check are disabled. Exits non-zero on any error or lint finding.
set -euo pipefail
cd "$(dirname "$0")/../.."

SAM_CLI_VERSION="1.170.0"
CFN_LINT_VERSION="1.58.0"
TOOLS_VENV=".cache/sam-tools-${SAM_CLI_VERSION}-cfnlint-${CFN_LINT_VERSION}"
PYTHON="${PYTHON:-python3}"
TEMPLATE="${1:-template.yaml}"
REGION="us-east-1"

log() { echo "[check-template] $*" >&2; }

if [ ! -x "${TOOLS_VENV}/bin/sam" ] || [ ! -x "${TOOLS_VENV}/bin/cfn-lint" ]; then
  log "installing aws-sam-cli ${SAM_CLI_VERSION} and cfn-lint ${CFN_LINT_VERSION} into ${TOOLS_VENV}"
  rm -rf "${TOOLS_VENV}"
  "$PYTHON" -m venv "${TOOLS_VENV}"
  "${TOOLS_VENV}/bin/pip" install --quiet --disable-pip-version-check --cache-dir .cache/pip \
    "aws-sam-cli==${SAM_CLI_VERSION}" "cfn-lint==${CFN_LINT_VERSION}"
fi

# Offline, credential-free environment for both tools.
SAM_CONFIG_DIR="$PWD/.cache/sam-cli-config"
mkdir -p "$SAM_CONFIG_DIR"
# SAM reads its global config (telemetry switch, time of the last PyPI version check) from here.
printf '{"telemetryEnabled": false, "lastVersionCheck": %s}\n' "$(date +%s)" >"$SAM_CONFIG_DIR/metadata.json"
export __SAM_CLI_APP_DIR="$SAM_CONFIG_DIR"
export SAM_CLI_TELEMETRY=0
export AWS_ACCESS_KEY_ID="offline-check" AWS_SECRET_ACCESS_KEY="offline-check"
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true
export AWS_DEFAULT_REGION="$REGION" AWS_REGION="$REGION"

status=0
log "sam validate --lint --template ${TEMPLATE} --region ${REGION}"
"${TOOLS_VENV}/bin/sam" validate --lint --template "${TEMPLATE}" --region "${REGION}" || status=1

log "cfn-lint ${TEMPLATE}"
"${TOOLS_VENV}/bin/cfn-lint" --regions "${REGION}" -- "${TEMPLATE}" || status=1

if [ "$status" -ne 0 ]; then
  log "FAILED"
  exit 1
fi
log "OK: ${TEMPLATE} passes sam validate --lint and cfn-lint"
