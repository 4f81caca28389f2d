#!/usr/bin/env bash
# Runs the whole test suite: unit tests, and integration tests against real Dovecot,
# Cyrus and Courier instances that the tests start themselves. Installs missing
# system packages when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
ENSURE_SERVERS=1 source scripts/ensure-deps.sh
cargo test --workspace --locked "$@"
