//! The text of `backtest`'s output files: trades.csv, equity.csv, metrics.json, sweep.csv
//! and walk_forward.csv. Pure string building (the command writes them through `out_dir`),
//! so each format is unit-tested without a disk.

use crate::backtest::metrics::Metrics;
use crate::backtest::params;
use crate::backtest::portfolio::PortfolioOutcome;
use crate::backtest::sweep::Sweep;
use crate::backtest::walk_forward::WalkForward;
use crate::domain::Bar;
use crate::store::fast_text::{pair, Scaled};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};
use std::fmt::Write as _;

#[path = "output_cells.rs"]
mod cells;
#[path = "output_equity.rs"]
mod equity;

pub use cells::time_cell;
use cells::*;
#[cfg(test)]
pub use equity::write_equity_csv;
pub use equity::EquityCsv;
pub(super) use equity::CHUNK;

/// Every closed trade of every symbol, then the trades still open, oldest entry first within
/// each symbol. Built by pushing cells ([`push_cell`], [`FastTime`]), byte for byte the
/// `format!` of [`num`] and [`time_cell`].
pub fn trades_csv(names: &[String], bars: &[&[Bar]], out: &PortfolioOutcome) -> String {
    let mut s = String::from(
        "symbol,status,direction,size,entry_time,entry_price,exit_time,exit_price,pnl,return_pct,commission,entry_bar,exit_bar\n",
    );
    let mut clock = FastTime::new();
    let mut scratch = Vec::with_capacity(32);
    for ((name, leg), bars) in names.iter().zip(&out.legs).zip(bars) {
        // symbol, status, direction, size, entry_time, entry_price: alike for both kinds.
        let head = |s: &mut String,
                    (clock, scratch): (&mut FastTime, &mut Vec<u8>),
                    status: &str,
                    size: f64,
                    (entry, price): (DateTime<Utc>, f64)| {
            s.push_str(name);
            s.push(',');
            s.push_str(status);
            s.push_str(if size > 0.0 { ",long," } else { ",short," });
            push_cell(s, scratch, size.abs());
            s.push(',');
            clock.write(s, entry.timestamp());
            s.push(',');
            push_cell(s, scratch, price);
        };
        for t in &leg.trades {
            let cells = (&mut clock, &mut scratch);
            head(
                &mut s,
                cells,
                "closed",
                t.size,
                (t.entry_time, t.entry_price),
            );
            s.push(',');
            clock.write(&mut s, t.exit_time.timestamp());
            for v in [t.exit_price, t.pnl, t.return_pct * 100.0, t.commission] {
                s.push(',');
                push_cell(&mut s, &mut scratch, v);
            }
            for bar in [t.entry_bar, t.exit_bar] {
                s.push(',');
                s.push_str(Scaled::new(bar as u64, 0).as_str());
            }
            s.push('\n');
        }
        if let Some(t) = leg.open_trade {
            let last = bars.last().map_or(f64::NAN, |b| b.close);
            let cells = (&mut clock, &mut scratch);
            head(&mut s, cells, "open", t.size, (t.entry_time, t.entry_price));
            s.push_str(",,");
            for v in [
                last,
                t.unrealized_pnl - t.entry_commission,
                (1f64.copysign(t.size) * (last / t.entry_price - 1.0)) * 100.0,
                t.entry_commission,
            ] {
                push_cell(&mut s, &mut scratch, v);
                s.push(',');
            }
            let _ = writeln!(s, "{},", t.entry_bar);
        }
    }
    s
}

fn days(d: Option<Duration>) -> Value {
    d.and_then(|d| d.num_nanoseconds())
        .map_or(Value::Null, |ns| json!(ns as f64 / 86_400e9))
}

fn n(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        Value::Null
    }
}

/// Every metric under backtesting.py's label; durations in days, NaN as null.
pub fn metrics_json(m: &Metrics) -> Value {
    let mut o = Map::new();
    let mut put = |k: &str, v: Value| {
        o.insert(k.to_string(), v);
    };
    put("Start", json!(time_cell(m.start)));
    put("End", json!(time_cell(m.end)));
    put("Duration", days(Some(m.duration)));
    put("Exposure Time [%]", n(m.exposure_time_pct));
    put("Equity Final [$]", n(m.equity_final));
    put("Equity Peak [$]", n(m.equity_peak));
    put("Commissions [$]", n(m.commissions));
    put("Return [%]", n(m.return_pct));
    put("Buy & Hold Return [%]", n(m.buy_hold_return_pct));
    put("Return (Ann.) [%]", n(m.return_ann_pct));
    put("Volatility (Ann.) [%]", n(m.volatility_ann_pct));
    put("CAGR [%]", n(m.cagr_pct));
    put("Sharpe Ratio", n(m.sharpe_ratio));
    put("Sortino Ratio", n(m.sortino_ratio));
    put("Calmar Ratio", n(m.calmar_ratio));
    put("Alpha [%]", n(m.alpha_pct));
    put("Beta", n(m.beta));
    put("Max. Drawdown [%]", n(m.max_drawdown_pct));
    put("Avg. Drawdown [%]", n(m.avg_drawdown_pct));
    put("Max. Drawdown Duration", days(m.max_drawdown_duration));
    put("Avg. Drawdown Duration", days(m.avg_drawdown_duration));
    put("# Trades", json!(m.trades));
    put("Win Rate [%]", n(m.win_rate_pct));
    put("Best Trade [%]", n(m.best_trade_pct));
    put("Worst Trade [%]", n(m.worst_trade_pct));
    put("Avg. Trade [%]", n(m.avg_trade_pct));
    put("Max. Trade Duration", days(m.max_trade_duration));
    put("Avg. Trade Duration", days(m.avg_trade_duration));
    put("Profit Factor", n(m.profit_factor));
    put("Expectancy [%]", n(m.expectancy_pct));
    put("SQN", n(m.sqn));
    put("Kelly Criterion", n(m.kelly_criterion));
    put("periods_per_year", n(m.periods_per_year));
    Value::Object(o)
}

/// A strategy as `{kind, params...}`.
pub fn strategy_json(s: &crate::strategy::Strategy) -> Value {
    let mut o = Map::new();
    o.insert("kind".into(), json!(params::kind_of(s)));
    for (k, v) in params::params_of(s) {
        o.insert(
            k.into(),
            if k == "allow_short" {
                json!(v != 0.0)
            } else {
                json!(v)
            },
        );
    }
    Value::Object(o)
}

/// sweep.csv: one row per valid combination, best first.
pub fn sweep_csv(sweep: &Sweep) -> String {
    let mut s = String::from("rank,");
    for a in &sweep.axes {
        let _ = write!(s, "{},", a.name);
    }
    let _ = writeln!(
        s,
        "score ({}),trades,return_pct,sharpe,max_drawdown_pct,win_rate_pct,equity_final,sqn",
        sweep.rank.label
    );
    for (i, row) in sweep.rows.iter().enumerate() {
        let _ = write!(s, "{},", i + 1);
        for v in &row.values {
            let _ = write!(s, "{},", params::format_value(*v));
        }
        num(&mut s, row.score);
        if let Some(m) = &row.metrics {
            let _ = write!(s, ",{},", m.trades);
            for v in [
                m.return_pct,
                m.sharpe_ratio,
                m.max_drawdown_pct,
                m.win_rate_pct,
                m.equity_final,
            ] {
                num(&mut s, v);
                s.push(',');
            }
            num(&mut s, m.sqn);
        } else {
            s.push_str(",0,,,,,,");
        }
        s.push('\n');
    }
    s
}

/// walk_forward.csv: one row per window.
pub fn walk_forward_csv(wf: &WalkForward, axes: &[String]) -> String {
    let mut s = String::from("window,train_start,train_end,test_start,test_end,");
    for a in axes {
        let _ = write!(s, "{a},");
    }
    s.push_str("in_sample_score,out_of_sample_score,out_of_sample_return_pct\n");
    let t = |i: usize| time_cell(wf.outcome.times[i]);
    for (k, w) in wf.windows.iter().enumerate() {
        let (tr, te) = (&w.window.train, &w.window.test);
        let _ = write!(
            s,
            "{},{},{},{},{},",
            k + 1,
            t(tr.start),
            t(tr.end - 1),
            t(te.start),
            t(te.end - 1)
        );
        for i in 0..axes.len() {
            if let Some(v) = w.chosen.as_ref().and_then(|c| c.get(i)) {
                s.push_str(&params::format_value(*v));
            }
            s.push(',');
        }
        for v in [w.in_sample_score, w.out_of_sample_score] {
            num(&mut s, v);
            s.push(',');
        }
        num(&mut s, w.out_of_sample_return_pct);
        s.push('\n');
    }
    s
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;
