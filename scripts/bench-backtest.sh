#!/usr/bin/env bash
# Whole-process backtest timings, side by side with backtesting.py.
#
#   scripts/bench-backtest.sh            # prometheus-bot only
#   scripts/bench-backtest.sh --python   # also backtesting.py 0.6.6 (throwaway virtualenv, PyPI)
#
# Times, each as min and median wall time of a fresh `prometheus-bot backtest` process:
#   1. GOOG daily (2148 bars), SmaCross 10/20 long-only, commission 0.002, all-in;
#   2. the 50-combination sweep fast=5..30:5 slow=10..70:5 (backtesting.py's quick start), and
#      the issue's 14,550-combination grid fast=2..101 slow=5..199 (every fast < slow);
#   2b. `import` of the million-row minute CSV below into an empty cache;
#   3. 1,000,000 one-minute bars from the bar cache (64 MB), SmaCross 10/20, including loading
#      the file and writing every output (trades.csv, equity.csv, metrics.json, report.html).
# In-process figures (engine, metrics, load) come from `cargo bench --bench backtest`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
# PROMETHEUS_BOT_BIN times another build (an older commit's, for a before/after).
bin="${PROMETHEUS_BOT_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/prometheus-bot}"

cat > "$work/config.toml" <<'TOML'
[bot]
timeframe = "1Day"
history = 50
[[symbol]]
name = "GOOG"
qty = 1
strategy = { kind = "sma_cross", fast = 10, slow = 20 }
[[symbol]]
name = "IMP"
qty = 1
strategy = { kind = "sma_cross", fast = 10, slow = 20 }
[[symbol]]
name = "SYN"
qty = 1
strategy = { kind = "sma_cross", fast = 10, slow = 20 }
TOML
python3 - "$root/tests/fixtures/GOOG.csv" "$work/goog.csv" "$work/data/bars/SYN-1Min.csv" <<'PY'
import os, random, sys
from datetime import datetime, timedelta
src, goog, minute = sys.argv[1:4]
lines = open(src).read().splitlines()
with open(goog, "w") as f:
    f.write("time_utc,open,high,low,close,volume\n")
    for l in lines[1:]:
        d, rest = l.split(",", 1)
        f.write(f"{d} 00:00:00,{rest}\n")
os.makedirs(os.path.dirname(minute), exist_ok=True)
rng = random.Random(7)
t = datetime(2016, 1, 4, 14, 30)
close = 100.0
with open(minute, "w") as f:
    f.write("time_utc,open,high,low,close,volume,trades,vwap\n")
    for i in range(1_000_000):
        # 8 decimals: exact SMA ties (which backtesting.py's running pandas mean and the
        # bot's window mean may round apart) are then practically impossible.
        o = close
        close = round(o * (1 + 0.002 * (rng.random() - 0.5)), 8)
        hi, lo = round(max(o, close) * 1.0001, 8), round(min(o, close) * 0.9999, 8)
        f.write(f"{t:%Y-%m-%d %H:%M:%S},{o},{hi},{lo},{close},{1000 + i % 13},{10 + i % 7},{round((o + close) / 2, 8)}\n")
        t += timedelta(minutes=1)
PY
"$bin" --config "$work/config.toml" import "$work/goog.csv" --symbol GOOG >/dev/null

time_it() { # label runs args...
  local label="$1" runs="$2"; shift 2
  python3 - "$label" "$runs" "$@" <<'PY'
import subprocess, sys, time
label, runs, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
times = []
for _ in range(runs):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    times.append(time.perf_counter() - t)
times.sort()
print(f"{label:<58} min {times[0]*1e3:9.1f} ms   median {times[len(times)//2]*1e3:9.1f} ms   ({runs} runs)")
PY
}
cfg=(--config "$work/config.toml" backtest --sizing all-in)
echo "prometheus-bot (whole process: start, load, run, metrics, write every file)"
time_it "GOOG SmaCross 10/20 long-only, commission 0.002" 21 \
  "$bin" "${cfg[@]}" --symbol GOOG --commission 0.002 --out "$work/out1"
time_it "GOOG sweep fast=5..30:5 slow=10..70:5 (50 combinations)" 11 \
  "$bin" "${cfg[@]}" --symbol GOOG --commission 0.002 --out "$work/out2" \
  --sweep fast=5..30:5 slow=10..70:5
time_it "GOOG sweep fast=2..101 slow=5..199 (14,550 combinations)" 5 \
  "$bin" "${cfg[@]}" --symbol GOOG --commission 0.002 --out "$work/out5" \
  --sweep fast=2..101 slow=5..199
time_it "import the 1,000,000-row minute CSV (88 MB) into an empty cache" 5 \
  sh -c "rm -f '$work/data/bars/IMP-1Min.csv'*; '$bin' --config '$work/config.toml' import '$work/data/bars/SYN-1Min.csv' --symbol IMP --timeframe 1Min"
time_it "1,000,000 minute bars, SmaCross 10/20 from the cache" 5 \
  "$bin" "${cfg[@]}" --symbol SYN --timeframe 1Min --out "$work/out3"
"$bin" "${cfg[@]}" --symbol SYN --timeframe 1Min --out "$work/out3" \
  | grep -E "^(Equity Final|# Trades)"
"$bin" "${cfg[@]}" --symbol GOOG --commission 0.002 --out "$work/out2" \
  --sweep fast=5..30:5 slow=10..70:5 | sed -n '1,3p'

if [[ "${1:-}" == "--python" ]]; then
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install --quiet --disable-pip-version-check \
      backtesting==0.6.6 pandas==3.1.1 numpy==2.4.6
  echo
  echo "backtesting.py 0.6.6"
  time_it "GOOG run as a fresh python process" 3 "$work/venv/bin/python" -c "
import warnings; warnings.simplefilter('ignore')
import sys; sys.path.insert(0, '$here')
from backtesting_py_bench import LongOnly
from backtesting import Backtest
from backtesting.test import GOOG
Backtest(GOOG, LongOnly, cash=10_000, commission=0.002).run()"
  "$work/venv/bin/python" "$here/backtesting_py_bench.py" "$work/data/bars/SYN-1Min.csv"
fi
