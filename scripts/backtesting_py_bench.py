#!/usr/bin/env python3
"""Times backtesting.py 0.6.6 on the cases scripts/bench-backtest.sh times prometheus-bot on.

    python3 backtesting_py_bench.py MINUTE_CSV [--runs N]

* GOOG SmaCross(10, 20), long-only, commission 0.002, all-in: `bt.run()` in process;
* the quick-start optimisation: n1=range(5, 30, 5), n2=range(10, 70, 5), n1 < n2 (50
  combinations), maximize='SQN';
* MINUTE_CSV (a bar-cache file of a million minute bars that bench-backtest.sh wrote): load
  with pandas + `bt.run()`, SmaCross(10, 20), long-only, no commission;
* pandas alone on MINUTE_CSV: `read_csv` with dates parsed (the peer of loading the cache)
  and `to_csv` (with the read, the peer of `import`).

Prints one JSON object with the timings (seconds) and the results to compare (final equity,
trades, best parameters). Needs `backtesting`, `pandas`, `numpy` (bench-backtest.sh makes a
throwaway virtualenv with the pinned versions).
"""

import argparse
import json
import sys
import time
import warnings

import pandas as pd

from backtesting import Backtest, Strategy
from backtesting.lib import crossover
from backtesting.test import GOOG, SMA


class LongOnly(Strategy):
    n1 = 10
    n2 = 20

    def init(self):
        self.sma1 = self.I(SMA, self.data.Close, self.n1)
        self.sma2 = self.I(SMA, self.data.Close, self.n2)

    def next(self):
        if crossover(self.sma1, self.sma2):
            if not self.position:
                self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()


def best_of(runs, fn):
    times = []
    result = None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return {"min": times[0], "median": times[len(times) // 2]}, result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("minute_csv")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    out = {}

    bt = Backtest(GOOG, LongOnly, cash=10_000, commission=0.002)
    timing, stats = best_of(max(args.runs, 10), bt.run)
    out["goog_run"] = timing
    out["goog_equity_final"] = float(stats["Equity Final [$]"])
    out["goog_trades"] = int(stats["# Trades"])

    timing, stats = best_of(
        max(1, args.runs // 2),
        lambda: bt.optimize(n1=range(5, 30, 5), n2=range(10, 70, 5),
                            constraint=lambda p: p.n1 < p.n2, maximize="SQN"),
    )
    out["goog_optimize_50"] = timing
    strategy = stats["_strategy"]
    out["goog_optimize_best"] = {"n1": int(strategy.n1), "n2": int(strategy.n2),
                                 "SQN": float(stats["SQN"])}

    def minute_run():
        df = pd.read_csv(args.minute_csv, index_col=0, parse_dates=True,
                         float_precision="round_trip")
        df = df.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]
        return Backtest(df, LongOnly, cash=10_000).run()

    timing, stats = best_of(1, minute_run)
    out["minute_1m_load_and_run"] = timing

    # The peers of `import` and of loading the cache: pandas reading the same CSV (dates
    # parsed), and writing it back out.
    def read():
        return pd.read_csv(args.minute_csv, index_col=0, parse_dates=True,
                           float_precision="round_trip")
    timing, df = best_of(3, read)
    out["pandas_read_csv_1m"] = timing
    timing, _ = best_of(1, lambda: df.to_csv(args.minute_csv + ".pandas.csv"))
    out["pandas_to_csv_1m"] = timing
    out["minute_equity_final"] = float(stats["Equity Final [$]"])
    out["minute_trades"] = int(stats["# Trades"])
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
