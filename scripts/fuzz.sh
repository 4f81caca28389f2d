#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS (default 60) each and prints a summary.
# Not part of CI. Needs `cargo install cargo-fuzz`; works on stable Rust with
# `-s none` (no sanitizer: the targets check their own invariants with asserts).
# Corpora and crash artifacts stay under fuzz/corpus and fuzz/artifacts (ignored);
# fuzz/seeds holds committed starting inputs. Usage: scripts/fuzz.sh [seconds] [target]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo fuzz build -s none
targets="${2:-command_render utf7 tokens mime_json}"
status=0
for target in $targets; do
    echo "== $target ($seconds s)"
    mkdir -p "corpus/$target" "seeds/$target"
    if ! cargo fuzz run -s none "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -max_len=4096 >"/tmp/fuzz-$target.log" 2>&1; then
        status=1
        grep -E "panicked|SUMMARY|Test unit written" "/tmp/fuzz-$target.log" || true
    fi
    grep -E "^Done [0-9]+ runs" "/tmp/fuzz-$target.log" || true
done
exit $status
