#!/usr/bin/env bash
# Starts the demo: Dovecot with a seeded mailbox (demo / demo-password) and the
# gateway on http://127.0.0.1:8080. Installs missing system packages when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
exec cargo run --release --example demo
