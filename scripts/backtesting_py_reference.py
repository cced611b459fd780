#!/usr/bin/env python3
"""Reference numbers from backtesting.py 0.6.6 for the Rust backtester's parity test.

Runs SmaCross(10, 20) on the GOOG daily data shipped inside the `backtesting` package with
cash 10000 and the default all-in whole-share sizing (`buy()` / `sell()` without `size`), and
writes every `compute_stats` metric, the closed trades, the trades still open at the end and
the per-bar equity curve to JSON.

The four required cases are {long-only, stop-and-reverse} x {commission 0.002, 0}. A few extra
cases pin down the other settings the Rust engine mirrors: `trade_on_close` (Fill::Close),
`spread` (slippage_bps), a (fixed, relative) commission tuple, and `finalize_trades`
(close_at_end).

    python3 scripts/backtesting_py_reference.py OUT_JSON [--csv-out GOOG.csv] [--time N]

Values are plain JSON: floats as floats, NaN as null, timestamps as strings
("2004-08-19 00:00:00"), durations as floats in days. Run it through
scripts/backtesting_py_reference.sh, which makes a throwaway virtualenv with pinned versions.
"""

import argparse
import json
import math
import os
import shutil
import sys
import timeit
import warnings

import numpy as np
import pandas as pd

import backtesting
from backtesting import Backtest, Strategy
from backtesting.lib import crossover
from backtesting.test import GOOG, SMA

FAST, SLOW, CASH = 10, 20, 10_000


class LongOnly(Strategy):
    """Buy on a cross above when flat, close on a cross below."""

    n1 = FAST
    n2 = SLOW

    def init(self):
        self.sma1 = self.I(SMA, self.data.Close, self.n1)
        self.sma2 = self.I(SMA, self.data.Close, self.n2)

    def next(self):
        if crossover(self.sma1, self.sma2):
            if not self.position:
                self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()


class StopAndReverse(Strategy):
    """The library's canonical SmaCross (backtesting/test/_test.py), with n1/n2 = 10/20."""

    n1 = FAST
    n2 = SLOW

    def init(self):
        self.sma1 = self.I(SMA, self.data.Close, self.n1)
        self.sma2 = self.I(SMA, self.data.Close, self.n2)

    def next(self):
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()


# name, strategy class, Backtest keyword arguments. The first four are the required cases.
CASES = [
    ("long_only_comm_0.002", LongOnly, dict(commission=0.002)),
    ("long_only_comm_0", LongOnly, dict(commission=0.0)),
    ("stop_and_reverse_comm_0.002", StopAndReverse, dict(commission=0.002)),
    ("stop_and_reverse_comm_0", StopAndReverse, dict(commission=0.0)),
    ("stop_and_reverse_comm_0.002_trade_on_close", StopAndReverse,
     dict(commission=0.002, trade_on_close=True)),
    ("long_only_spread_0.001_comm_fixed_3_plus_0.001", LongOnly,
     dict(commission=(3.0, 0.001), spread=0.001)),
    ("stop_and_reverse_comm_0.002_finalize", StopAndReverse,
     dict(commission=0.002, finalize_trades=True)),
]


def plain(value):
    """A JSON-ready value: NaN -> None, Timestamp -> str, Timedelta -> days as float."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return str(value)
    if isinstance(value, pd.Timedelta):
        return value / pd.Timedelta(days=1)
    if value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return None if math.isnan(value) else value
    raise TypeError(f"unexpected {type(value)}: {value!r}")


def settings_of(kwargs):
    commission = kwargs.get("commission", 0.0)
    fixed, relative = commission if isinstance(commission, tuple) else (0.0, commission)
    return {
        "cash": CASH,
        "commission": relative,
        "commission_fixed": fixed,
        "spread": kwargs.get("spread", 0.0),
        "trade_on_close": kwargs.get("trade_on_close", False),
        "finalize_trades": kwargs.get("finalize_trades", False),
    }


def run_case(name, strategy, kwargs):
    bt = Backtest(GOOG, strategy, cash=CASH, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = bt.run()
    metrics = {k: plain(v) for k, v in stats.items() if not k.startswith("_")}
    trades_df = stats["_trades"]
    trades = []
    for t in trades_df.itertuples(index=False):
        trades.append({
            "EntryBar": int(t.EntryBar),
            "ExitBar": int(t.ExitBar),
            "Size": float(t.Size),
            "EntryPrice": float(t.EntryPrice),
            "ExitPrice": float(t.ExitPrice),
            "PnL": float(t.PnL),
            "ReturnPct": float(t.ReturnPct),
            "Commission": float(t.Commission),
            "EntryTime": str(t.EntryTime),
            "ExitTime": str(t.ExitTime),
        })
    open_trades = [{
        "EntryBar": int(t.entry_bar),
        "Size": float(t.size),
        "EntryPrice": float(t.entry_price),
        "EntryTime": str(t.entry_time),
    } for t in stats["_strategy"].trades]
    equity = [float(x) for x in stats["_equity_curve"]["Equity"].values]
    return {
        "name": name,
        "strategy": {
            "kind": "sma_cross",
            "fast": FAST,
            "slow": SLOW,
            "allow_short": strategy is StopAndReverse,
        },
        "settings": settings_of(kwargs),
        "stats": metrics,
        "stats_order": [k for k in stats.keys() if not k.startswith("_")],
        "trades": trades,
        "open_trades": open_trades,
        "equity": equity,
    }, bt


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_json")
    ap.add_argument("--csv-out", help="also copy the package's GOOG.csv here")
    ap.add_argument("--time", type=int, default=0,
                    help="time N in-process runs of each of the four main cases")
    args = ap.parse_args()

    csv_path = os.path.join(os.path.dirname(backtesting.__file__), "test", "GOOG.csv")
    if args.csv_out:
        shutil.copyfile(csv_path, args.csv_out)

    out = {
        "generator": "scripts/backtesting_py_reference.py",
        "versions": {
            "backtesting": backtesting.__version__,
            "pandas": pd.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
        "data": {"file": "GOOG.csv", "bars": len(GOOG),
                 "first": str(GOOG.index[0]), "last": str(GOOG.index[-1])},
        "cases": [],
    }
    for name, strategy, kwargs in CASES:
        case, bt = run_case(name, strategy, kwargs)
        out["cases"].append(case)
        s = case["stats"]
        print(f"{name:50s} trades={s['# Trades']:3d} final={s['Equity Final [$]']:.4f} "
              f"sharpe={s['Sharpe Ratio']}", file=sys.stderr)
        if args.time and name in [c[0] for c in CASES[:4]]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                runs = timeit.repeat(bt.run, number=1, repeat=args.time)
            runs.sort()
            print(f"  timeit bt.run(): median {runs[len(runs) // 2] * 1e3:.2f} ms, "
                  f"min {runs[0] * 1e3:.2f} ms over {args.time} runs", file=sys.stderr)

    # One line per equity curve keeps the file small and its diffs readable.
    curves = {}
    for case in out["cases"]:
        curves[case["name"]] = json.dumps(case["equity"], allow_nan=False)
        case["equity"] = "@equity:" + case["name"]
    text = json.dumps(out, indent=1, allow_nan=False)
    for name, curve in curves.items():
        text = text.replace(json.dumps("@equity:" + name), curve)
    with open(args.out_json, "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
