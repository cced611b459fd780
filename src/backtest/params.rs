//! Strategy parameters by name: build a strategy from `--strategy KIND --param NAME=VALUE`,
//! override one parameter of an existing strategy, and expand `--sweep` grids.
//!
//! A strategy is rebuilt through the same serde definition the config file uses
//! (`{ kind = "...", ... }`), so a parameter spelled wrongly, or of the wrong type, fails the
//! way it would in `config.toml`, and a new strategy kind needs only a line in
//! [`params_of`]. The rules [`validate`] applies are the config's (`fast < slow` and so on);
//! sweeps skip the combinations that break them, as backtesting.py's `constraint` does.

use crate::plan::protect::Protection;
use crate::strategy::Strategy;
use serde_json::{Map, Value};

/// The `[[symbol]]` protective keys a sweep or walk-forward can vary like a strategy
/// parameter: they belong to every symbol whatever its strategy.
pub const PROTECTIVE: [&str; 3] = ["stop_loss_pct", "take_profit_pct", "trailing_stop_pct"];

/// `base` with the protective keys among `params` replaced (others ignored). `Ok(None)` when
/// the result breaks a rule of the config (a percent out of range, a stop with a trailing
/// stop, a trailing stop with a target): a sweep skips that combination, as it skips a
/// strategy breaking its rules.
pub fn with_protection(base: Protection, params: &[(String, f64)]) -> Option<Protection> {
    let mut p = base;
    for (name, v) in params {
        match name.as_str() {
            "stop_loss_pct" => p.stop_loss_pct = Some(*v),
            "take_profit_pct" => p.take_profit_pct = Some(*v),
            "trailing_stop_pct" => p.trailing_stop_pct = Some(*v),
            _ => {}
        }
    }
    let below_100 = |x: Option<f64>| x.is_none_or(|x| x > 0.0 && x < 100.0);
    let ok = below_100(p.stop_loss_pct)
        && below_100(p.trailing_stop_pct)
        && p.take_profit_pct.is_none_or(|x| x > 0.0 && x.is_finite())
        && !(p.stop_loss_pct.is_some() && p.trailing_stop_pct.is_some())
        && !(p.trailing_stop_pct.is_some() && p.take_profit_pct.is_some());
    ok.then_some(p)
}

/// A parameter value as written on the command line.
fn value_of(text: &str) -> Value {
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => number(text.parse::<f64>().unwrap_or(f64::NAN))
            .unwrap_or_else(|| Value::String(text.to_string())),
    }
}

/// A JSON number: an integer when `x` is integral (serde refuses `10.0` for a `usize`).
fn number(x: f64) -> Option<Value> {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 9.0e15 {
        Some(Value::from(x as i64))
    } else {
        serde_json::Number::from_f64(x).map(Value::Number)
    }
}

/// The strategy kind as the config spells it.
pub fn kind_of(s: &Strategy) -> &'static str {
    match s {
        Strategy::Threshold { .. } => "threshold",
        Strategy::SmaCross { .. } => "sma_cross",
        Strategy::Model { .. } => "model",
    }
}

/// Kinds whose strategies carry what the config loader built (a model file read once), so
/// they are changed in place rather than rebuilt through serde (which would drop it).
fn is_opaque(s: &Strategy) -> bool {
    matches!(s, Strategy::Model { .. })
}

/// Every parameter of `s` with its value (booleans as 0/1), in the config's order.
pub fn params_of(s: &Strategy) -> Vec<(&'static str, f64)> {
    match *s {
        Strategy::Threshold {
            buy_above,
            sell_below,
        } => vec![("buy_above", buy_above), ("sell_below", sell_below)],
        Strategy::SmaCross {
            fast,
            slow,
            allow_short,
        } => vec![
            ("fast", fast as f64),
            ("slow", slow as f64),
            ("allow_short", f64::from(u8::from(allow_short))),
        ],
        Strategy::Model { threshold, .. } => vec![("threshold", threshold)],
    }
}

fn to_json(s: &Strategy) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("kind".into(), Value::from(kind_of(s)));
    for (name, v) in params_of(s) {
        let value = if name == "allow_short" {
            Value::Bool(v != 0.0)
        } else {
            number(v).unwrap_or(Value::Null)
        };
        map.insert(name.into(), value);
    }
    map
}

fn from_json(map: Map<String, Value>) -> Result<Strategy, String> {
    let kind = map.get("kind").cloned().unwrap_or(Value::Null);
    serde_json::from_value(Value::Object(map)).map_err(|e| format!("strategy {kind}: {e}"))
}

/// `NAME=VALUE` split at the first `=`.
pub fn split_assignment(text: &str) -> Result<(&str, &str), String> {
    match text.split_once('=') {
        Some((n, v)) if !n.trim().is_empty() && !v.trim().is_empty() => Ok((n.trim(), v.trim())),
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}

/// A strategy from its kind and `NAME=VALUE` parameters; missing ones come from `base` when it
/// is of the same kind.
pub fn build(kind: &str, params: &[String], base: Option<&Strategy>) -> Result<Strategy, String> {
    if let Some(b) = base.filter(|b| is_opaque(b) && kind_of(b) == kind) {
        let numbers = params
            .iter()
            .map(|p| {
                let (name, value) = split_assignment(p)?;
                let v: f64 = value
                    .parse()
                    .map_err(|_| format!("`{p}`: expected a number"))?;
                Ok((name.to_string(), v))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let s = with_params(b, &numbers)?;
        validate(&s)?;
        return Ok(s);
    }
    if kind == "model" {
        return Err(
            "model strategies come from the config, whose loader reads the model file: \
                    backtest a [[symbol]] that has one"
                .into(),
        );
    }
    let mut map = match base {
        Some(b) if kind_of(b) == kind && !is_opaque(b) => to_json(b),
        _ => {
            let mut m = Map::new();
            m.insert("kind".into(), Value::from(kind));
            m
        }
    };
    for p in params {
        let (name, value) = split_assignment(p)?;
        map.insert(name.to_string(), value_of(value));
    }
    let s = from_json(map)?;
    validate(&s)?;
    Ok(s)
}

/// `base` with parameters replaced by number. Errors name the parameter; a combination that
/// breaks a rule of [`validate`] is an error too (sweeps skip it).
pub fn with_params(base: &Strategy, params: &[(String, f64)]) -> Result<Strategy, String> {
    if params.is_empty() {
        return Ok(base.clone());
    }
    if is_opaque(base) {
        let mut s = base.clone();
        for (name, v) in params {
            match (&mut s, name.as_str()) {
                (Strategy::Model { threshold, .. }, "threshold") => *threshold = *v,
                _ => {
                    return Err(format!(
                        "{} has no parameter `{name}` you can change here",
                        kind_of(base)
                    ))
                }
            }
        }
        return Ok(s);
    }
    let mut map = to_json(base);
    for (name, v) in params {
        if !map.contains_key(name) {
            let known: Vec<&str> = params_of(base).iter().map(|p| p.0).collect();
            return Err(format!(
                "{} has no parameter `{name}` (it has {})",
                kind_of(base),
                known.join(", ")
            ));
        }
        let value = if name == "allow_short" {
            Value::Bool(*v != 0.0)
        } else {
            number(*v).ok_or_else(|| format!("`{name}` = {v} is not a number"))?
        };
        map.insert(name.clone(), value);
    }
    from_json(map)
}

/// The config's rules for a strategy's parameters.
pub fn validate(s: &Strategy) -> Result<(), String> {
    s.check().map_err(|(key, msg)| format!("{key} {msg}"))
}

/// One swept parameter and its values, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub name: String,
    pub values: Vec<f64>,
}

/// `NAME=A..B[:STEP]` (B excluded, like Python's `range` that backtesting.py's `optimize`
/// takes), `NAME=A..=B[:STEP]` (B included), `NAME=V1,V2,...` or `NAME=V`.
pub fn parse_axis(text: &str) -> Result<Axis, String> {
    let (name, spec) = split_assignment(text)?;
    let num = |s: &str| -> Result<f64, String> {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| format!("`{s}` in `{text}` is not a number"))
    };
    let values = if let Some((a, rest)) = spec.split_once("..") {
        let (inclusive, rest) = match rest.strip_prefix('=') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let (b, step) = match rest.split_once(':') {
            Some((b, s)) => (num(b)?, num(s)?),
            None => (num(rest)?, 1.0),
        };
        let a = num(a)?;
        if step <= 0.0 {
            return Err(format!("the step in `{text}` must be positive"));
        }
        let span = (b - a) / step;
        if span > 100_000.0 {
            return Err(format!("`{text}` has more than 100000 values"));
        }
        // Steps counted in integers so that 0.1 steps do not drift; 1e-9 absorbs rounding.
        let mut values = Vec::new();
        let mut k = 0.0;
        while k <= span + 1e-9 {
            let x = a + k * step;
            let at_end = (k - span).abs() <= 1e-9;
            if !at_end || inclusive {
                values.push((x * 1e9).round() / 1e9);
            }
            k += 1.0;
        }
        values
    } else {
        spec.split(',').map(num).collect::<Result<Vec<_>, _>>()?
    };
    if values.is_empty() {
        return Err(format!(
            "`{text}` has no values (A..B excludes B; use A..=B)"
        ));
    }
    Ok(Axis {
        name: name.to_string(),
        values,
    })
}

/// Every combination of the axes' values, the first axis varying slowest.
pub fn combinations(axes: &[Axis]) -> Vec<Vec<f64>> {
    let mut out = vec![Vec::new()];
    for axis in axes {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                axis.values.iter().map(move |&v| {
                    let mut p = prefix.clone();
                    p.push(v);
                    p
                })
            })
            .collect();
    }
    out
}

/// `fast=10 slow=30 allow_short=false`: the parameters for people.
pub fn describe(s: &Strategy) -> String {
    params_of(s)
        .into_iter()
        .map(|(k, v)| match k {
            "allow_short" => format!("{k}={}", v != 0.0),
            _ => format!("{k}={}", format_value(v)),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A parameter value for people and CSV: integers without a decimal point.
pub fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMA: Strategy = Strategy::SmaCross {
        fast: 10,
        slow: 30,
        allow_short: false,
    };

    #[test]
    fn axes_follow_python_range_and_inclusive_ranges() {
        let a = parse_axis("fast=5..30:5").unwrap();
        assert_eq!(a.values, [5.0, 10.0, 15.0, 20.0, 25.0]);
        assert_eq!(parse_axis("n=1..=3").unwrap().values, [1.0, 2.0, 3.0]);
        assert_eq!(
            parse_axis("x=0.1..0.4:0.1").unwrap().values,
            [0.1, 0.2, 0.3]
        );
        assert_eq!(parse_axis("slow=20,50").unwrap().values, [20.0, 50.0]);
        assert!(parse_axis("fast=5..5").unwrap_err().contains("no values"));
        assert!(parse_axis("fast=5..9:0").is_err());
        assert!(parse_axis("fast").is_err());
        assert!(parse_axis("fast=a..b").is_err());
    }

    #[test]
    fn the_classic_grid_has_fifty_valid_combinations() {
        // backtesting.py's quick-start: n1=range(5, 30, 5), n2=range(10, 70, 5), n1 < n2.
        let axes = [
            parse_axis("fast=5..30:5").unwrap(),
            parse_axis("slow=10..70:5").unwrap(),
        ];
        let combos = combinations(&axes);
        assert_eq!(combos.len(), 60);
        let names: Vec<String> = axes.iter().map(|a| a.name.clone()).collect();
        let valid = combos
            .iter()
            .filter(|c| {
                let p: Vec<(String, f64)> = names.iter().cloned().zip(c.iter().copied()).collect();
                with_params(&SMA, &p).and_then(|s| validate(&s)).is_ok()
            })
            .count();
        assert_eq!(valid, 50);
        assert_eq!(combos[1], [5.0, 15.0], "the first axis varies slowest");
    }

    #[test]
    fn parameters_are_replaced_by_name_and_checked_as_in_the_config() {
        let s = with_params(&SMA, &[("fast".into(), 5.0), ("allow_short".into(), 1.0)]).unwrap();
        assert_eq!(
            s,
            Strategy::SmaCross {
                fast: 5,
                slow: 30,
                allow_short: true
            }
        );
        let e = with_params(&SMA, &[("fsat".into(), 5.0)]).unwrap_err();
        assert!(
            e.contains("no parameter `fsat`") && e.contains("fast, slow"),
            "{e}"
        );
        assert!(with_params(&SMA, &[("fast".into(), 2.5)]).is_err());
        let bad = with_params(&SMA, &[("fast".into(), 40.0)]).unwrap();
        assert!(validate(&bad).unwrap_err().contains("less than slow"));
    }

    #[test]
    fn build_from_kind_and_params() {
        let s = build("sma_cross", &["fast=3".into(), "slow=7".into()], None).unwrap();
        assert_eq!(
            s,
            Strategy::SmaCross {
                fast: 3,
                slow: 7,
                allow_short: false
            }
        );
        // Missing parameters come from a base of the same kind.
        let s = build("sma_cross", &["fast=3".into()], Some(&SMA)).unwrap();
        assert_eq!(params_of(&s)[1], ("slow", 30.0));
        let t = build(
            "threshold",
            &["buy_above=230.5".into(), "sell_below=220".into()],
            Some(&SMA),
        )
        .unwrap();
        assert_eq!(kind_of(&t), "threshold");
        assert!(build("martingale", &[], None)
            .unwrap_err()
            .contains("martingale"));
        assert!(build("sma_cross", &["fast=3".into()], None)
            .unwrap_err()
            .contains("slow"));
        assert!(build("sma_cross", &["fast=9".into(), "slow=3".into()], None).is_err());
        assert_eq!(format_value(10.0), "10");
        assert_eq!(format_value(0.25), "0.25");
    }
}
