#!/usr/bin/env bash
# Times whole `tick` processes (release build) against the loopback fake Alpaca:
# median wall and CPU time, peak RSS, requests per tick. See benches/tick.rs.
#
# As a Raspberry Pi would run it (cross-built, under user-mode qemu; slower than a real Pi's
# CPU for compute, but the same binary and syscalls):
#   cargo build --release --target aarch64-unknown-linux-gnu \
#     --config 'target.aarch64-unknown-linux-gnu.linker="aarch64-linux-gnu-gcc"'
#   PROMETHEUS_BOT_BIN=target/aarch64-unknown-linux-gnu/release/prometheus-bot \
#   PROMETHEUS_BOT_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" scripts/bench-tick.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench tick "$@"
