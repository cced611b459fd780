#!/usr/bin/env bash
# Whole-process backtest timings, side by side with the peers in the same run.
#
#   scripts/bench-backtest.sh            # prometheus-bot only
#   scripts/bench-backtest.sh --python   # also backtesting.py 0.6.6, vectorbt 1.2.0 and pandas
#
# Times, each as min and median wall time (and median CPU) of fresh `prometheus-bot` processes:
#   1. GOOG daily (2148 bars), SmaCross 10/20 long-only, commission 0.002, all-in;
#   2. the 50-combination sweep fast=5..30:5 slow=10..70:5 (backtesting.py's quick start), and
#      the issue's 14,550-combination grid fast=2..101 slow=5..199 (ends excluded, fast < slow);
#   2b. `import` of the million-row minute CSV below into an empty cache (symbols AFTER/BEFORE);
#   3. 1,000,000 one-minute bars from the bar cache (88 MB), SmaCross 10/20, including loading
#      the file and writing every output (trades.csv, equity.csv, metrics.json, report.html).
# With --python the peers run on the same files in the same run, and each ratio is printed:
# backtesting.py (GOOG, its optimize(), the million bars), vectorbt (the 14,550 grid: cold,
# with numba compiling, and warm), pandas (read_csv and to_csv of the million rows: the peers
# of loading the cache and of `import`). They live in a virtualenv made once with pip
# (BENCH_VENV, default /tmp/prometheus-bot-bench-venv); CI never needs them.
#
# PROMETHEUS_BOT_BIN times another build instead; PROMETHEUS_BOT_BEFORE=<binary> also times
# an older build in the same run and checks that sweep.csv, equity.csv and the imported cache
# file are byte for byte the same.
# In-process figures (engine, metrics, load) come from `cargo bench --bench backtest` and
# `cargo bench --bench cache`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# PROMETHEUS_BOT_BIN times another build (then nothing is built here).
if [[ -z "${PROMETHEUS_BOT_BIN:-}" ]]; then
  cargo build --release --quiet --manifest-path "$root/Cargo.toml"
fi
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
name = "AFTER"
qty = 1
strategy = { kind = "sma_cross", fast = 10, slow = 20 }
[[symbol]]
name = "BEFORE"
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

results="$work/results"
: > "$results"
# time_it RUNS LABEL [--setup SHELL] CMD... [--vs LABEL [--setup SHELL] CMD...]: fresh
# processes, the two commands taking turns (so that the shared machine's load falls on both
# alike); min and median wall time and median CPU of each. A setup runs before each run of
# its command, untimed (deleting the previous run's output, say).
time_it() {
  python3 - "$results" "$@" <<'PY'
import os, subprocess, sys, time
results, runs, rest = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
cases = []
while rest:
    k = rest.index("--vs") if "--vs" in rest else len(rest)
    label, cmd, setup = rest[0], rest[1:k], None
    if cmd[:1] == ["--setup"]:
        setup, cmd = cmd[1], cmd[2:]
    cases.append((label, setup, cmd, [], []))
    rest = rest[k + 1:]
for _ in range(runs):
    for label, setup, cmd, walls, cpus in cases:
        if setup:
            subprocess.run(setup, shell=True, check=True)
        t, c = time.perf_counter(), os.times()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t)
        d = os.times()
        cpus.append(d.children_user + d.children_system - c.children_user - c.children_system)
for label, setup, cmd, walls, cpus in cases:
    walls.sort(); cpus.sort()
    med, cpu = walls[len(walls) // 2], cpus[len(cpus) // 2]
    print(f"{label:<64} min {walls[0]*1e3:8.1f} ms  median {med*1e3:8.1f} ms  CPU {cpu*1e3:7.1f} ms  ({runs} runs)")
    with open(results, "a") as f:
        f.write(f"{label}\t{med}\n")
PY
}
cfg=(--config "$work/config.toml" backtest --sizing all-in)
# Each case for the build(s): "after" is $bin; "before" is $PROMETHEUS_BOT_BEFORE, if set.
builds=(after "$bin")
if [[ -n "${PROMETHEUS_BOT_BEFORE:-}" ]]; then builds+=(before "$PROMETHEUS_BOT_BEFORE"); fi
case_() { # runs label-suffix [--setup shell-template] command-template (BIN and TAG replaced)
  local runs="$1" label="$2"; shift 2
  local args=() first=1 i
  for ((i = 0; i < ${#builds[@]}; i += 2)); do
    local tag="${builds[i]}" b="${builds[i+1]}" cmd=() w
    for w in "$@"; do w="${w//BIN/$b}"; w="${w//UTAG/${tag^^}}"; cmd+=("${w//TAG/$tag}"); done
    if [[ $first == 0 ]]; then args+=(--vs); fi
    first=0
    args+=("$tag $label" "${cmd[@]}")
  done
  time_it "$runs" "${args[@]}"
}
echo "prometheus-bot, whole processes (start, load, run, metrics, write every file): after = $bin${PROMETHEUS_BOT_BEFORE:+, before = $PROMETHEUS_BOT_BEFORE}"
case_ 21 "GOOG SmaCross 10/20 long-only, commission 0.002" \
  BIN "${cfg[@]}" --symbol GOOG --commission 0.002 --out "$work/TAG-out1"
case_ 11 "GOOG sweep fast=5..30:5 slow=10..70:5 (50 combinations)" \
  BIN "${cfg[@]}" --symbol GOOG --commission 0.002 --out "$work/TAG-out2" \
  --sweep fast=5..30:5 slow=10..70:5
case_ 7 "GOOG sweep fast=2..101 slow=5..199 (14,550 combinations)" \
  BIN "${cfg[@]}" --symbol GOOG --commission 0.002 --out "$work/TAG-out5" \
  --sweep fast=2..101 slow=5..199
# The previous run's file is deleted before each run, untimed: deleting 88 MB with dirty pages
# costs what other tenants' I/O makes it, and is no part of an import.
case_ 7 "import the 1,000,000-row minute CSV (88 MB), empty cache" \
  --setup "rm -f '$work/data/bars/UTAG-1Min.csv'*" \
  BIN --config "$work/config.toml" import "$work/data/bars/SYN-1Min.csv" --symbol UTAG --timeframe 1Min
# A fresh --out folder each run, as a person's default (a new timestamped folder) is: the
# previous run's 47 MB of files are deleted untimed, not replaced inside the timed run.
case_ 7 "1,000,000 minute bars, SmaCross 10/20 from the cache" \
  --setup "rm -rf '$work/TAG-out3'" \
  BIN "${cfg[@]}" --symbol SYN --timeframe 1Min --out "$work/TAG-out3"
if [[ -n "${PROMETHEUS_BOT_BEFORE:-}" ]]; then
  for f in out5/sweep.csv out3/equity.csv out3/trades.csv; do
    if cmp -s "$work/after-$f" "$work/before-$f"; then
      echo "same bytes before and after: $f"
    else
      echo "DIFFERENT before and after: $f"; exit 1
    fi
  done
  if cmp -s "$work/data/bars/AFTER-1Min.csv" "$work/data/bars/BEFORE-1Min.csv"; then
    echo "same bytes before and after: the imported cache file"
  else
    echo "DIFFERENT before and after: the imported cache file"; exit 1
  fi
fi
"$bin" "${cfg[@]}" --symbol SYN --timeframe 1Min --out "$work/out3" \
  | grep -E "^(Equity Final|# Trades)"
"$bin" "${cfg[@]}" --symbol GOOG --commission 0.002 --out "$work/out2" \
  --sweep fast=5..30:5 slow=10..70:5 | sed -n '1,3p'

if [[ "${1:-}" == "--python" ]]; then
  venv="${BENCH_VENV:-/tmp/prometheus-bot-bench-venv}"
  if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        backtesting==0.6.6 pandas==3.1.1 numpy==2.4.6 vectorbt==1.2.0
  fi
  py="$venv/bin/python"
  export TQDM_DISABLE=1  # backtesting.py's progress bars
  echo
  "$py" -c "import sys, backtesting, pandas, numpy, vectorbt, numba; print('Python', sys.version.split()[0], '| backtesting', backtesting.__version__, '| pandas', pandas.__version__, '| numpy', numpy.__version__, '| vectorbt', vectorbt.__version__, '| numba', numba.__version__)"
  time_it 3 "peer backtesting.py GOOG run as a fresh python process" "$py" -c "
import warnings; warnings.simplefilter('ignore')
import sys; sys.path.insert(0, '$here')
from backtesting_py_bench import LongOnly
from backtesting import Backtest
from backtesting.test import GOOG
Backtest(GOOG, LongOnly, cash=10_000, commission=0.002).run()"
  "$py" "$here/backtesting_py_bench.py" "$work/data/bars/SYN-1Min.csv" > "$work/btpy.json"
  cat "$work/btpy.json"
  # One process, three grid runs: the first compiles numba's kernels, the later are warm.
  "$py" "$here/vectorbt_grid_bench.py" "$root/tests/fixtures/GOOG.csv" --runs 3 > "$work/vbt.json"
  cat "$work/vbt.json"
  python3 - "$results" "$work/btpy.json" "$work/vbt.json" <<'PY'
import json, sys
ours = dict(l.rstrip("\n").split("\t") for l in open(sys.argv[1]))
ours = {k: float(v) for k, v in ours.items()}
bt, vbt = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
def row(what, peer_name, peer_s, our_label):
    o = ours[our_label]
    print(f"{what:<44} ours {o*1e3:9.1f} ms   {peer_name} {peer_s*1e3:10.1f} ms   {peer_s/o:7.1f}x")
print()
print("Side by side (medians, this run):")
row("GOOG run, fresh process", "backtesting.py", ours["peer backtesting.py GOOG run as a fresh python process"],
    "after GOOG SmaCross 10/20 long-only, commission 0.002")
row("50-combination sweep (process / optimize())", "backtesting.py", bt["goog_optimize_50"]["median"],
    "after GOOG sweep fast=5..30:5 slow=10..70:5 (50 combinations)")
row("14,550 grid (process / vectorbt warm)", "vectorbt", vbt["later_runs_median_s"],
    "after GOOG sweep fast=2..101 slow=5..199 (14,550 combinations)")
row("14,550 grid (process / vectorbt 1st run)", "vectorbt", vbt["first_run_s"],
    "after GOOG sweep fast=2..101 slow=5..199 (14,550 combinations)")
row("1M minute bars: load + run (process)", "backtesting.py", bt["minute_1m_load_and_run"]["median"],
    "after 1,000,000 minute bars, SmaCross 10/20 from the cache")
row("import 1M rows / pandas read_csv + to_csv", "pandas",
    bt["pandas_read_csv_1m"]["median"] + bt["pandas_to_csv_1m"]["median"],
    "after import the 1,000,000-row minute CSV (88 MB), empty cache")
PY
fi
