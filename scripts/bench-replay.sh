#!/usr/bin/env bash
# How long `replay` takes over a year of minute bars for 2 symbols, the whole process.
#
#   scripts/bench-replay.sh            # 252 sessions x 390 minutes x 2 symbols (196,560 bars)
#   scripts/bench-replay.sh DAYS       # fewer (or more) sessions, e.g. 20 for a quick look
#
# Writes a synthetic random walk straight into the bar cache format (data/bars/SYM-1Min.csv,
# regular New York sessions of 2025 on weekdays, in UTC), then runs `replay` once and prints
# its own summary line (ticks, seconds, microseconds per tick) and the wall time. The two
# symbols share their minutes, so one tick serves both: 98,280 ticks for 196,560 bars, plus
# the last one at the close. Both trade sma_cross 10/30, one share, guards off.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
days="${1:-252}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin="${CARGO_TARGET_DIR:-$root/target}/release/prometheus-bot"

cat > "$work/config.toml" <<'TOML'
[bot]
timeframe = "1Min"
history = 40
[[symbol]]
name = "AAA"
qty = 1
strategy = { kind = "sma_cross", fast = 10, slow = 30 }
[[symbol]]
name = "BBB"
qty = 1
strategy = { kind = "sma_cross", fast = 10, slow = 30 }
[risk]
max_position_qty = 0
max_order_notional = 0
max_orders_per_day = 0
max_daily_loss_pct = 0
max_drawdown_pct = 0
TOML
python3 - "$work/data/bars" "$days" <<'PY'
import os, random, sys
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo
out, days = sys.argv[1], int(sys.argv[2])
os.makedirs(out, exist_ok=True)
ny = ZoneInfo("America/New_York")
sessions, d = [], date(2025, 1, 2)
while len(sessions) < days:
    if d.weekday() < 5:
        sessions.append(datetime(d.year, d.month, d.day, 9, 30, tzinfo=ny).astimezone(timezone.utc))
    d += timedelta(days=1)
for k, sym in enumerate(["AAA", "BBB"]):
    rng, close = random.Random(k + 1), 100.0
    with open(f"{out}/{sym}-1Min.csv", "w") as f:
        f.write("time_utc,open,high,low,close,volume,trades,vwap\n")
        for start in sessions:
            for m in range(390):
                t = start + timedelta(minutes=m)
                o = close
                close = round(o * (1 + 0.002 * (rng.random() - 0.5)), 4)
                hi, lo = max(o, close), min(o, close)
                f.write(f"{t:%Y-%m-%d %H:%M:%S},{o},{hi},{lo},{close},1000,10,{o}\n")
PY
echo "replay: $days sessions x 390 minute bars x 2 symbols"
start=$(date +%s.%N)
"$bin" --config "$work/config.toml" replay --out "$work/replay" | grep -E "^(Replayed|# Trades|Equity Final)"
end=$(date +%s.%N)
python3 -c "print(f'wall time of the whole process: {$end - $start:.2f} s')"
