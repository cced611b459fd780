#!/usr/bin/env bash
# Times whole `tick` processes (release build) against the loopback fake Alpaca:
# median wall and CPU time, peak RSS, requests per tick. See benches/tick.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench tick "$@"
