#!/usr/bin/env bash
# Property-based API testing with schemathesis against the demo gateway: every
# operation in /openapi.json is called with generated (valid and invalid) input, and
# every answer is checked against the spec (status codes, content types, bodies) and
# for server errors. Not part of CI (it takes minutes and needs PyPI).
#
#   scripts/schemathesis.sh [max-examples-per-operation]   (default 100)
#
# Starts the demo (Dovecot + gateway on a free port) itself and stops it afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
examples="${1:-100}"
# hypothesis 6.12x+ dropped an API hypothesis-jsonschema 0.23 uses.
python3 -m pip install --quiet 'schemathesis>=3.39,<4' 'hypothesis<6.120'
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cargo build --release --example demo
IMAP_GATEWAY_LISTEN="127.0.0.1:$port" target/release/examples/demo >/tmp/schemathesis-demo.log 2>&1 &
demo=$!
# Wait for the demo's graceful shutdown: it stops its Dovecot last, and a caller that
# kills the process group once this script returns would otherwise orphan it.
trap 'kill $demo 2>/dev/null || true; wait $demo 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.2
done
# Failed-login throttling would turn generated credentials into 429s for the demo
# user; the demo's limits are generous, and schemathesis authenticates as demo.
schemathesis run "http://127.0.0.1:$port/openapi.json" \
    --experimental=openapi-3.1 \
    --checks all \
    --hypothesis-max-examples "$examples" \
    --hypothesis-deadline none \
    --workers 4 \
    --auth demo:demo-password \
    --exclude-path /v1/events \
    --show-trace
