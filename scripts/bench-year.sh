#!/usr/bin/env bash
# A tick after a simulated year (98,280 decision and equity rows per symbol, 30,000 fills, a
# year of cached minute bars) against a fresh one, dashboard off and on: median CPU, wall
# time, peak RSS. See benches/year.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench year "$@"
