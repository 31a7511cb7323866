#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60); exits non-zero on the first crash.
# Works on a stable toolchain through RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Z flags).
# Crashing inputs land in fuzz/artifacts/<target>/; commit them to fuzz/regressions/<target>/
# and add a unit test in appliance/media that replays them.
set -euo pipefail

SECONDS_PER_TARGET="${1:-60}"
cd "$(dirname "$0")"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
fixtures=../appliance/media/tests/fixtures

for target in $(cargo fuzz list); do
    corpus="corpus/$target"
    mkdir -p "$corpus"
    cp -n seeds/"$target"/* "$corpus"/ 2>/dev/null || true
    if [ -d "regressions/$target" ]; then
        cp -n regressions/"$target"/* "$corpus"/ 2>/dev/null || true
    fi
    case "$target" in
        ts_demux) cp -n "$fixtures"/*.ts "$corpus"/ ;;
    esac
    echo "== $target (${SECONDS_PER_TARGET}s)"
    # libFuzzer exits non-zero on a crash, leak or timeout; set -e stops the script there.
    cargo fuzz run "$target" "$corpus" -- \
        -max_total_time="$SECONDS_PER_TARGET" -max_len=262144 -timeout=10 -print_final_stats=1
done
echo "all fuzz targets ran ${SECONDS_PER_TARGET}s without a crash"
