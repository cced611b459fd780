//! Several symbols, one account: every symbol's bars stepped in time order against one shared
//! cash balance, as the live Alpaca account is shared by every `[[symbol]]` of the config.
//!
//! Pure: no I/O, no clock; allocation is per run and per trade, never per bar.
//!
//! # Why a second simulator
//!
//! [`engine::run`](super::engine::run) is one symbol with its own cash, the shape
//! backtesting.py has and the parity tests pin. A portfolio needs more: one cash balance,
//! sizing that sees the other symbols' open trades, one equity curve, and a strategy that may
//! change over time (walk-forward). For one symbol with one strategy [`run`] reproduces
//! `engine::run` exactly (same trades, same equity bits; tested below): both call the same
//! [`entry`](super::engine::entry) and [`Open::close`](super::engine::Open) arithmetic.
//!
//! # The step
//!
//! The timeline is the sorted union of every leg's bar times. At each time `τ`, with the legs
//! that have a bar at `τ`:
//!
//! 1. **Fill.** Each leg's order decided on its previous bar fills at this bar's open
//!    ([`Fill::NextOpen`]) or at the previous bar's close ([`Fill::Close`]). All closing
//!    parts go first, then all opening parts, in leg order, so a sale frees cash for a
//!    purchase at the same time. Before the fills, legs with a bar at `τ` are marked at their
//!    open (next-open fills): that is the only price of `τ` known when the order executes.
//! 2. **Protect.** Each leg's broker-held stop and target (the segment's, its `[[symbol]]`
//!    keys, or `Settings::protection`) may close its trade on this bar, by the rule of
//!    [`protective`](super::protective), from the bar after the entry's.
//! 3. **Mark.** Each leg is marked at its close; `equity[τ] = cash + Σ size·(mark − entry)`.
//!    If it is `<= 0` every trade is closed at its mark and the run stops (the library's
//!    out-of-money rule).
//! 4. **Decide.** `strategy.decide(&bars[..=i], Close[i], position)` for each leg whose bar
//!    `i` is at or past its start and that has a strategy in force at `τ` ([`Segment`]).
//!
//! Legs without a bar at `τ` keep their last mark (forward fill).
//!
//! # Sizing across legs
//!
//! A new trade's budget is taken from the account equity (`max(0, equity)`; as the tick sizes
//! `equity_fraction`), and it is cancelled if it costs more than the margin available,
//! `max(0, equity − Σ |size|·mark)` over the other open trades (backtesting.py's
//! `margin_available`). With no other trade open both are `max(0, cash)`, which is what the
//! one-symbol engine uses.
//!
//! # Per-leg breakdown
//!
//! With two or more legs each leg also gets an equity curve on its own bar times: the
//! starting cash plus that leg's realized PnL (net of commissions) plus its open trade's
//! unrealized PnL. The legs' curves add up to the portfolio's (up to rounding): the portfolio
//! equity minus the cash is the sum of the legs' contributions.

use super::engine::{entry, library_warmup, Fill, Open, Settings, Sizing};
use super::guards::Guard;
use super::protective::Levels;
use crate::domain::{Bar, Side, Signal};
use crate::plan::protect::Protection;
use crate::strategy::{Smas, Strategy};
use chrono::{DateTime, Utc};

#[path = "portfolio_outcome.rs"]
mod outcome;
pub use outcome::{Decided, LegOutcome, PortfolioOutcome};

/// A strategy in force from `from` on (inclusive), until the next segment's `from`.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub from: DateTime<Utc>,
    pub strategy: Strategy,
    /// Overrides the leg's protection while the segment is in force (a walk-forward window's
    /// chosen `stop_loss_pct`...): levels placed from then on use it.
    pub protection: Option<Protection>,
}

impl Segment {
    /// One strategy for the whole run.
    pub fn always(strategy: Strategy) -> Vec<Segment> {
        vec![Segment {
            from: DateTime::<Utc>::MIN_UTC,
            strategy,
            protection: None,
        }]
    }
}

/// One symbol of the portfolio.
#[derive(Debug, Clone)]
pub struct Leg<'a> {
    /// Oldest first, strictly increasing times.
    pub bars: &'a [Bar],
    /// Sorted by `from`; before the first segment the leg makes no decision. Not empty.
    pub schedule: &'a [Segment],
    /// Overrides `Settings::sizing` for this leg.
    pub sizing: Option<Sizing>,
    /// Overrides `Settings::protection` for this leg: protection is per `[[symbol]]`.
    pub protection: Option<Protection>,
}

/// Per-leg state while running.
struct LegState<'a> {
    bars: &'a [Bar],
    schedule: &'a [Segment],
    sizing: Sizing,
    protection: Protection,
    /// The open trade's resting protection, keyed by that trade's (entry bar, size): from the
    /// bar after the one its entry filled in, as in the one-symbol engine.
    levels: Option<((usize, f64), Levels)>,
    /// Next bar not yet stepped.
    cursor: usize,
    /// Index into `schedule` of the segment in force, if any yet.
    segment: Option<usize>,
    mark: f64,
    open: Option<Open>,
    pending: Option<(Signal, bool)>,
    /// Realized PnL net of commissions, less the open trade's entry commission.
    realized: f64,
    out: LegOutcome,
}

impl LegState<'_> {
    #[inline]
    fn position(&self) -> f64 {
        self.open.map_or(0.0, |t| t.size)
    }

    /// Advance the segment cursor to the segment in force at `t`, if any.
    #[inline]
    fn segment_at(&mut self, t: DateTime<Utc>) -> Option<usize> {
        loop {
            let next = self.segment.map_or(0, |k| k + 1);
            match self.schedule.get(next) {
                Some(seg) if seg.from <= t => self.segment = Some(next),
                _ => return self.segment,
            }
        }
    }

    fn close(&mut self, settings: &Settings, cash: &mut f64, price: f64, bar: usize) {
        let Some(t) = self.open.take() else { return };
        let (cash_delta, trade) = t.close(settings, self.bars, price, bar);
        *cash += cash_delta;
        self.realized += trade.pnl + t.commission;
        self.out.trades.push(trade);
    }
}

/// Run every leg over its bars with one shared account. `settings.sizing` applies to legs
/// without their own. Panics if a leg's schedule is empty.
///
/// One leg with one strategy throughout is handed to [`engine::run`](super::engine::run),
/// which is the same simulation (a test checks the general path against it bit for bit) in
/// a tighter loop: a million bars in half the time.
pub fn run(legs: &[Leg<'_>], settings: &Settings) -> PortfolioOutcome {
    let smas: Vec<Smas> = legs.iter().map(leg_smas).collect();
    run_with(legs, settings, &smas)
}

/// The SMAs every strategy in `leg`'s schedule reads, over its bars.
pub fn leg_smas(leg: &Leg<'_>) -> Smas {
    Smas::new(leg.bars, leg_windows(leg))
}

/// The SMA windows the strategies of `leg`'s schedule read.
pub fn leg_windows<'a>(leg: &'a Leg<'_>) -> impl Iterator<Item = usize> + 'a {
    leg.schedule.iter().flat_map(|s| s.strategy.sma_windows())
}

/// [`run`] with each leg's indicators already computed over its bars (`smas[k]` for
/// `legs[k]`, as [`leg_smas`] or a superset): a sweep computes them once for every
/// combination.
pub fn run_with(legs: &[Leg<'_>], settings: &Settings, smas: &[Smas]) -> PortfolioOutcome {
    run_with_timeline(legs, settings, smas, || {
        legs[0].bars.iter().map(|b| b.time).collect()
    })
}

/// [`run_with`], a one-symbol run's timeline (its bars' times, in order) taken from
/// `timeline` once its simulation is done; the general engine builds its own and does not
/// call it. `backtest` gathers them on a second core while the simulation runs.
pub fn run_with_timeline(
    legs: &[Leg<'_>],
    settings: &Settings,
    smas: &[Smas],
    timeline: impl FnOnce() -> Vec<DateTime<Utc>>,
) -> PortfolioOutcome {
    assert_eq!(legs.len(), smas.len(), "one Smas per leg");
    if is_one_leg(legs, settings) {
        one_leg(&legs[0], settings, &smas[0], timeline)
    } else {
        run_general(legs, settings, smas)
    }
}

/// The settings the one-symbol engine runs a one-leg portfolio with: the leg's sizing and
/// protection (its segment's first) over the run's.
pub(crate) fn one_leg_settings(leg: &Leg<'_>, settings: &Settings) -> Settings {
    Settings {
        sizing: leg.sizing.unwrap_or(settings.sizing),
        protection: leg.schedule[0]
            .protection
            .or(leg.protection)
            .unwrap_or(settings.protection),
        ..*settings
    }
}

/// Is `legs` run by the one-symbol engine ([`run_with`]'s first arm)?
pub(crate) fn is_one_leg(legs: &[Leg<'_>], settings: &Settings) -> bool {
    matches!(legs, [leg] if settings.guards.is_none()
        && leg.schedule.len() == 1
        && leg.schedule[0].from == DateTime::<Utc>::MIN_UTC)
}

fn one_leg(
    leg: &Leg<'_>,
    settings: &Settings,
    smas: &Smas,
    timeline: impl FnOnce() -> Vec<DateTime<Utc>>,
) -> PortfolioOutcome {
    let settings = one_leg_settings(leg, settings);
    let out = super::engine::run_with(leg.bars, &leg.schedule[0].strategy, &settings, smas);
    let warmup = if leg.bars.is_empty() { 0 } else { out.warmup };
    let times = timeline();
    assert_eq!(times.len(), leg.bars.len(), "a time per bar");
    PortfolioOutcome {
        times,
        equity: out.equity,
        legs: vec![LegOutcome {
            trades: out.trades,
            open_trade: out.open_trade,
            pending: out.pending,
            decisions: out
                .decisions
                .into_iter()
                .map(|(bar, signal)| Decided { bar, signal })
                .collect(),
            warmup: out.warmup,
            start: out.start,
            equity: Vec::new(),
            step_of_bar: Vec::new(),
        }],
        cash: out.cash,
        out_of_money_at: out.out_of_money_at,
        warmup,
        refusals: Vec::new(),
    }
}

/// The general simulation (any number of legs, strategy schedules); see the module docs.
pub(crate) fn run_general(
    legs: &[Leg<'_>],
    settings: &Settings,
    smas: &[Smas],
) -> PortfolioOutcome {
    let single = legs.len() == 1;
    let times = timeline(legs);
    let steps = times.len();
    let mut states: Vec<LegState<'_>> = legs
        .iter()
        .map(|leg| {
            assert!(!leg.schedule.is_empty(), "a leg needs a strategy");
            let n = leg.bars.len();
            let warmup = library_warmup(&leg.schedule[0].strategy, n);
            LegState {
                bars: leg.bars,
                schedule: leg.schedule,
                sizing: leg.sizing.unwrap_or(settings.sizing),
                protection: leg.protection.unwrap_or(settings.protection),
                levels: None,
                cursor: 0,
                segment: None,
                mark: leg.bars.first().map_or(f64::NAN, |b| b.close),
                open: None,
                pending: None,
                realized: 0.0,
                out: LegOutcome {
                    trades: Vec::new(),
                    open_trade: None,
                    pending: None,
                    decisions: Vec::new(),
                    warmup,
                    start: warmup + 1,
                    equity: if single {
                        Vec::new()
                    } else {
                        vec![f64::NAN; n]
                    },
                    step_of_bar: if single { Vec::new() } else { vec![0; n] },
                },
            }
        })
        .collect();
    let mut equity = vec![f64::NAN; steps];
    let mut cash = settings.cash;
    let mut guard = settings
        .guards
        .map(|limits| Guard::new(limits, settings.cash));
    let mut out_of_money_at = None;
    // The first step at which some leg is at or past its start (equity is back-filled
    // before it), and the first at which every leg is past its warm-up.
    let mut first_active: Option<usize> = None;
    let mut warmup_step = 0usize;
    let mut at_step: Vec<usize> = Vec::with_capacity(legs.len());

    for (step, &now) in times.iter().enumerate() {
        // Which legs have a bar now (their index is their cursor).
        at_step.clear();
        for (k, s) in states.iter_mut().enumerate() {
            if s.cursor < s.bars.len() && s.bars[s.cursor].time == now {
                at_step.push(k);
                if !single {
                    s.out.step_of_bar[s.cursor] = step as u32;
                }
                if s.cursor == s.out.warmup {
                    warmup_step = warmup_step.max(step);
                }
            }
        }

        // 1. Fills: closing parts, then opening parts.
        if settings.fill == Fill::NextOpen {
            for &k in &at_step {
                let s = &mut states[k];
                s.mark = s.bars[s.cursor].open;
            }
        }
        if let Some(g) = &mut guard {
            g.begin_step(now);
        }
        let mut opening = false;
        for &k in &at_step {
            let s = &mut states[k];
            let Some((signal, _)) = s.pending else {
                continue;
            };
            let (price, at) = fill_at(settings.fill, s.bars, s.cursor);
            let pos = s.position();
            if (signal == Signal::Buy && pos < 0.0) || (signal == Signal::Sell && pos > 0.0) {
                let side = if pos > 0.0 { Side::Sell } else { Side::Buy };
                if let Some(g) = &mut guard {
                    if !g.allow(k, at, side, pos.abs(), price, pos) {
                        // Refused (a halt): the whole signal is dropped.
                        s.pending = None;
                        continue;
                    }
                }
                s.close(settings, &mut cash, price, at);
            }
            opening = true;
        }
        if opening {
            for &k in &at_step {
                let Some((signal, allow_short)) = states[k].pending.take() else {
                    continue;
                };
                let dir = match signal {
                    Signal::Buy => 1.0,
                    Signal::Sell if allow_short => -1.0,
                    _ => continue,
                };
                if states[k].open.is_some() {
                    continue;
                }
                let (price, at) = fill_at(settings.fill, states[k].bars, states[k].cursor);
                open_trade(
                    &mut states,
                    k,
                    settings,
                    &mut cash,
                    (dir, price, at),
                    guard.as_mut(),
                );
            }
        }

        // 2. The broker-held stop and target (see [`protect`]).
        for &k in &at_step {
            protect(&mut states[k], settings, &mut cash, now);
        }

        // 3. Mark at the closes and record equity.
        for &k in &at_step {
            let s = &mut states[k];
            s.mark = s.bars[s.cursor].close;
        }
        let active = at_step
            .iter()
            .any(|&k| states[k].cursor >= states[k].out.start);
        if active && first_active.is_none() {
            first_active = Some(step);
        }
        if first_active.is_some() {
            let e = cash + unrealized(&states);
            equity[step] = e;
            if let Some(g) = &mut guard {
                g.observe(now, e);
            }
            if !single {
                for &k in &at_step {
                    let s = &mut states[k];
                    let upl = s.open.map_or(0.0, |t| s.mark * t.size - t.size * t.price);
                    s.out.equity[s.cursor] = settings.cash + (s.realized + upl);
                }
            }
            if e <= 0.0 {
                for s in states.iter_mut() {
                    if s.open.is_some() {
                        // The leg's latest bar: this step's, or its previous one.
                        let here = s.cursor < s.bars.len() && s.bars[s.cursor].time == now;
                        let bar = if here { s.cursor } else { s.cursor - 1 };
                        let mark = s.mark;
                        s.close(settings, &mut cash, mark, bar);
                    }
                }
                cash = 0.0;
                equity[step..].fill(0.0);
                out_of_money_at = Some(step);
                break;
            }
        }

        // 4. Decide.
        for &k in &at_step {
            let s = &mut states[k];
            let i = s.cursor;
            if i >= s.out.start {
                let (position, bars, schedule) = (s.position(), s.bars, s.schedule);
                if let Some(seg) = s.segment_at(now) {
                    let strategy = &schedule[seg].strategy;
                    let decision =
                        strategy.decide_with(&bars[..=i], &smas[k], bars[i].close, position);
                    if decision.signal != Signal::Hold {
                        s.pending = Some((decision.signal, strategy.allows_short()));
                        s.out.decisions.push(Decided {
                            bar: i,
                            signal: decision.signal,
                        });
                    }
                }
            }
        }
        for &k in &at_step {
            states[k].cursor += 1;
        }
    }

    if settings.close_at_end && out_of_money_at.is_none() {
        if let Some(last_step) = steps.checked_sub(1) {
            close_at_end(&mut states, settings, &mut cash);
            if first_active.is_some() {
                let e = cash + unrealized(&states);
                equity[last_step] = e;
                if e <= 0.0 {
                    for s in states.iter_mut() {
                        let (mark, last) = (s.mark, s.bars.len().saturating_sub(1));
                        s.close(settings, &mut cash, mark, last);
                    }
                    cash = 0.0;
                    equity[last_step] = 0.0;
                    out_of_money_at = Some(last_step);
                }
            }
        }
    }

    // Back-fill the warm-up (the library's `bfill().fillna(cash)`).
    let first = first_active.unwrap_or(steps);
    let fill = if first < steps {
        equity[first]
    } else {
        settings.cash
    };
    equity[..first].fill(fill);
    if !single {
        for s in &mut states {
            let mut last = settings.cash;
            for e in &mut s.out.equity {
                if e.is_nan() {
                    *e = last;
                } else {
                    last = *e;
                }
            }
        }
    }

    let legs = states
        .into_iter()
        .map(|mut s| {
            let n = s.bars.len();
            s.out.open_trade = s.open.map(|t| t.to_open_trade(s.bars, s.bars[n - 1].close));
            s.out.pending = s.pending.map(|(signal, _)| signal);
            s.out
        })
        .collect();
    PortfolioOutcome {
        times,
        equity,
        legs,
        cash,
        out_of_money_at,
        warmup: warmup_step,
        refusals: guard.map(|g| g.refusals).unwrap_or_default(),
    }
}

/// Leg `s`'s protection on its current bar, after this step's strategy fills, exactly as the
/// one-symbol engine does it: a trade the strategy opened or closed drops the old levels (the
/// tick cancels them before its order); resting levels may exit the trade on this bar (at the
/// level, or at the open on a gap: [`Levels::exit_on`]); an open trade without levels gets
/// them for its next bar. A protective exit bypasses the guards: protecting is not trading.
fn protect(s: &mut LegState<'_>, settings: &Settings, cash: &mut f64, now: DateTime<Utc>) {
    let i = s.cursor;
    let key = s.open.map(|t| (t.bar, t.size));
    if s.levels.is_some_and(|(k, _)| Some(k) != key) {
        s.levels = None;
    }
    if let Some((_, l)) = s.levels.as_mut() {
        if let Some(price) = l.exit_on(&s.bars[i]) {
            s.close(settings, cash, price, i);
            s.levels = None;
        }
    }
    if s.levels.is_none() && i + 1 < s.bars.len() {
        if let Some(t) = s.open {
            let protection = s
                .segment_at(now)
                .and_then(|k| s.schedule[k].protection)
                .unwrap_or(s.protection);
            s.levels = Levels::new(&protection, t.price, t.size.signum(), s.bars[i + 1].open)
                .map(|l| ((t.bar, t.size), l));
        }
    }
}

/// The sorted union of the legs' bar times.
fn timeline(legs: &[Leg<'_>]) -> Vec<DateTime<Utc>> {
    if let [leg] = legs {
        return leg.bars.iter().map(|b| b.time).collect();
    }
    let mut all: Vec<DateTime<Utc>> = legs
        .iter()
        .flat_map(|l| l.bars.iter().map(|b| b.time))
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Where an order executed in bar `i`'s step fills: (price, bar it is recorded at).
#[inline]
fn fill_at(fill: Fill, bars: &[Bar], i: usize) -> (f64, usize) {
    match fill {
        Fill::NextOpen => (bars[i].open, i),
        Fill::Close => (bars[i - 1].close, i - 1),
    }
}

/// Σ size·(mark − entry) over open trades, in the engine's operation order.
#[inline]
fn unrealized(states: &[LegState<'_>]) -> f64 {
    let mut sum = 0.0;
    for s in states {
        if let Some(t) = s.open {
            sum += s.mark * t.size - t.size * t.price;
        }
    }
    sum
}

/// Open a trade on leg `k` in direction `dir` at raw `price` on bar `at`, sized against the
/// whole account, if the guards (when any) allow it.
fn open_trade(
    states: &mut [LegState<'_>],
    k: usize,
    settings: &Settings,
    cash: &mut f64,
    (dir, price, at): (f64, f64, usize),
    guard: Option<&mut Guard>,
) {
    let others_open = states.iter().any(|s| s.open.is_some());
    let (budget_base, margin) = if others_open {
        let equity = *cash + unrealized(states);
        let used: f64 = states
            .iter()
            .filter_map(|s| s.open.map(|t| t.size.abs() * s.mark))
            .sum();
        (equity.max(0.0), (equity - used).max(0.0))
    } else {
        // No trade open: equity is the cash, exactly as the one-symbol engine sees it.
        let m = cash.max(0.0);
        (m, m)
    };
    let s = &mut states[k];
    if let Some(t) = entry(settings, s.sizing, dir, price, at, budget_base, margin) {
        if let Some(g) = guard {
            let side = if dir > 0.0 { Side::Buy } else { Side::Sell };
            if !g.allow(k, at, side, t.size.abs(), price, 0.0) {
                return;
            }
        }
        *cash -= t.commission;
        s.realized -= t.commission;
        s.open = Some(t);
    }
}

/// backtesting.py's `finalize_trades=True` per leg: close at the last bar's fill price, then
/// execute the signal decided on the last bar at that same price.
fn close_at_end(states: &mut [LegState<'_>], settings: &Settings, cash: &mut f64) {
    for k in 0..states.len() {
        let s = &mut states[k];
        let n = s.bars.len();
        if s.out.start >= n {
            continue;
        }
        let (price, at) = fill_at(settings.fill, s.bars, n - 1);
        s.close(settings, cash, price, at);
        if let Some((signal, allow_short)) = s.pending.take() {
            let pos = s.position();
            if (signal == Signal::Buy && pos < 0.0) || (signal == Signal::Sell && pos > 0.0) {
                s.close(settings, cash, price, at);
            }
            let dir = match signal {
                Signal::Buy => 1.0,
                Signal::Sell if allow_short => -1.0,
                _ => continue,
            };
            if states[k].open.is_none() {
                open_trade(states, k, settings, cash, (dir, price, at), None);
            }
        }
    }
}

#[cfg(test)]
#[path = "portfolio_tests.rs"]
mod tests;
