#!/usr/bin/env bash
# A longer schemathesis 4 run than the suite's: the contract test (tests/contract.rs:
# --checks all over every operation, against the gateway on a real Dovecot with the
# demo mailbox) with as many generated examples per operation as asked.
#
#   scripts/schemathesis.sh [max-examples-per-operation]   (default 200; the suite: 25)
#
# Installs what it needs itself (Dovecot; schemathesis from PyPI, pinned in the test).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
SCHEMATHESIS_EXAMPLES="${1:-200}" exec cargo test --release --test contract \
    schemathesis_finds_nothing -- --nocapture
