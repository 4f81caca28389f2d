#!/usr/bin/env bash
# Regenerates the README's pictures, docs/inbox.png and docs/swagger.png: starts the
# demo (Dovecot, the gateway, the web inbox), poses the inbox with docs/pose.html and
# takes both screenshots with headless Chromium. Needs what scripts/test.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
command -v chromium >/dev/null || { echo "install chromium first (apt-get install chromium)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "install python3 first" >&2; exit 1; }
gateway=127.0.0.1:18180
cargo build --release --example demo
IMAP_GATEWAY_LISTEN=$gateway IMAP_GATEWAY_DEMO_INBOX=127.0.0.1:18190 \
  target/release/examples/demo >/dev/null 2>&1 </dev/null &
demo=$!
pages=$(mktemp -d)
trap 'kill $demo $server 2>/dev/null; rm -rf "$pages"' EXIT
cp web/* docs/pose.html "$pages"/
python3 -m http.server 18191 --bind 127.0.0.1 --directory "$pages" >/dev/null 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf "http://$gateway/healthz" >/dev/null && break; sleep 0.2; done
shoot() {
  chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size=1280,800 --virtual-time-budget=10000 --screenshot="$1" "$2" >/dev/null 2>&1
}
shoot docs/inbox.png "http://127.0.0.1:18191/pose.html?gateway=http://$gateway"
shoot docs/swagger.png "http://$gateway/docs/"
echo "wrote docs/inbox.png and docs/swagger.png"
