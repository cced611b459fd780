#!/usr/bin/env python3
"""Times vectorbt on the issue's 14,550-combination SMA-cross grid over GOOG daily bars.

    python3 vectorbt_grid_bench.py GOOG_CSV [--runs N]

The grid of scripts/bench-backtest.sh: fast=2..101, slow=5..199 (ends excluded), fast < slow; long only,
entries when the fast SMA crosses above the slow one, exits when it crosses below, filled at
the next bar's open, commission 0.002, all-in, 10,000 cash; per combination the numbers
sweep.csv holds (return, Sharpe, max drawdown, win rate, final equity, trades). vectorbt's
conventions are its own (fractional all-in size, a trade count that includes the open one),
so it is a peer for the time, not for the digits.

Prints one JSON object: the seconds of the first run in this process (numba compiles then),
the median of the later runs, and the import time, with the best combination by return.
Needs `vectorbt` (bench-backtest.sh --python makes a throwaway virtualenv).
"""

import argparse
import json
import sys
import time
import warnings

t0 = time.perf_counter()
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import vectorbt as vbt  # noqa: E402

IMPORT_S = time.perf_counter() - t0


def grid(open_, close):
    pairs = [(f, s) for f in range(2, 101) for s in range(5, 199) if f < s]
    # Each window's SMA once (as the bot computes them), then the pairs' columns.
    windows = list(range(2, 199))
    ma = vbt.MA.run(close, window=windows).ma.values
    fast = ma[:, [f - 2 for f, _ in pairs]]
    slow = ma[:, [s - 2 for _, s in pairs]]
    above = fast > slow
    below = fast < slow
    # backtesting.py's crossover: strictly below (above) on the bar before, above (below) now.
    entries = np.zeros_like(above)
    exits = np.zeros_like(above)
    entries[1:] = above[1:] & below[:-1]
    exits[1:] = below[1:] & above[:-1]
    # Decided on a bar's close, filled at the next bar's open.
    entries = np.vstack([np.zeros((1, len(pairs)), bool), entries[:-1]])
    exits = np.vstack([np.zeros((1, len(pairs)), bool), exits[:-1]])
    pf = vbt.Portfolio.from_signals(
        close.values[:, None], entries, exits, price=open_.values[:, None], fees=0.002,
        init_cash=10_000, freq="1D",
    )
    table = pd.DataFrame({
        "return_pct": pf.total_return().values * 100,
        "sharpe": pf.sharpe_ratio().values,
        "max_drawdown_pct": -pf.max_drawdown().values * 100,
        "win_rate_pct": pf.trades.win_rate().values * 100,
        "equity_final": pf.final_value().values,
        "trades": pf.trades.count().values,
    })
    return pairs, table


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("goog_csv")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    df = pd.read_csv(args.goog_csv, index_col=0, parse_dates=True)
    open_, close = df["Open"], df["Close"]
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        pairs, table = grid(open_, close)
        times.append(time.perf_counter() - t)
    later = sorted(times[1:]) or times
    best = int(np.nanargmax(table["return_pct"].values))
    json.dump({
        "vectorbt": vbt.__version__,
        "combinations": len(pairs),
        "import_s": IMPORT_S,
        "first_run_s": times[0],
        "later_runs_median_s": later[len(later) // 2],
        "best_by_return": {"fast": pairs[best][0], "slow": pairs[best][1],
                           "return_pct": float(table["return_pct"].iloc[best])},
    }, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
