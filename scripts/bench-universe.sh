#!/usr/bin/env bash
# A tick over 2 and 500 symbols, cold and warm, against the loopback fake Alpaca (release
# build): ticks to warm up, requests, median CPU and wall time, peak RSS, syncs per tick.
# See benches/universe.rs. Other sizes: UNIVERSE_SIZES=2,100,500 scripts/bench-universe.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench universe "$@"
