//! The config loader loads the model files its `model` strategies name, and blames the
//! `path` key's line when one is missing, damaged or for another timeframe.

use super::*;
use crate::domain::Timeframe;
use crate::model::tests::file;
use crate::model::ModelFile;
use std::collections::HashMap;
use std::path::PathBuf;

const CONFIG: &str = "[bot]\ntimeframe = \"1Day\"\nhistory = 100\n\n\
[[symbol]]\nname = \"TSLA\"\nqty = 1\nstrategy = { kind = \"sma_cross\", fast = 2, slow = 3 }\n\n\
[[symbol]]\nname = \"AAPL\"\nqty = 1\n\
strategy = { kind = \"model\", path = \"data/models/AAPL-1Day-logreg-v1.json\", threshold = 0.6 }\n";

fn load(text: &str, files: &HashMap<PathBuf, String>) -> Result<Config> {
    let mut config = Config::from_str(text, Path::new("/bot/config.toml"))?;
    attach(&mut config, text, true, |p| {
        files
            .get(p)
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not found"))
    })?;
    Ok(config)
}

fn files_with(model: &ModelFile) -> HashMap<PathBuf, String> {
    let path = PathBuf::from("/bot/data/models/AAPL-1Day-logreg-v1.json");
    HashMap::from([(path, serde_json::to_string_pretty(model).unwrap())])
}

#[test]
fn the_config_loads_the_model_once_relative_to_its_folder() {
    let config = load(CONFIG, &files_with(&file("1Day", 0.0))).unwrap();
    let Strategy::Model {
        path,
        threshold,
        model,
        ..
    } = &config.symbols[1].strategy
    else {
        panic!("{:?}", config.symbols[1].strategy)
    };
    assert_eq!(path, "data/models/AAPL-1Day-logreg-v1.json");
    assert_eq!(*threshold, 0.6);
    let model = model.as_ref().expect("loaded");
    assert_eq!(model.timeframe, Timeframe::Day1);
    assert_eq!(config.symbols[1].strategy.tag(), "mdl");
    assert_eq!(config.symbols[1].strategy.bars_needed(), 50);
    // The threshold defaults to 0.55.
    let text = CONFIG.replace(", threshold = 0.6", "");
    let config = load(&text, &files_with(&file("1Day", 0.0))).unwrap();
    assert!(matches!(
        config.symbols[1].strategy,
        Strategy::Model { threshold, .. } if threshold == 0.55
    ));
}

#[test]
fn a_model_for_another_timeframe_is_refused_naming_the_file_line_and_key() {
    let e = load(CONFIG, &files_with(&file("1Hour", 0.0)))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("config error: /bot/config.toml:13: `path`:"),
        "{e}"
    );
    assert!(
        e.contains("/bot/data/models/AAPL-1Day-logreg-v1.json was trained on 1Hour bars but [bot] timeframe is 1Day"),
        "{e}"
    );
}

#[test]
fn another_feature_set_or_format_version_or_a_damaged_file_is_refused() {
    let mut other = file("1Day", 0.0);
    other.feature_set = "bars-v0".into();
    let e = load(CONFIG, &files_with(&other)).unwrap_err().to_string();
    assert!(
        e.contains(":13: `path`:") && e.contains("feature set `bars-v0`"),
        "{e}"
    );
    let mut renamed = file("1Day", 0.0);
    renamed.features[0] = "ret_2".into();
    let e = load(CONFIG, &files_with(&renamed)).unwrap_err().to_string();
    assert!(e.contains("feature set `bars-v1` (ret_2,"), "{e}");
    let mut old = file("1Day", 0.0);
    old.format_version = 0;
    let e = load(CONFIG, &files_with(&old)).unwrap_err().to_string();
    assert!(e.contains("version 0, this build reads"), "{e}");
    let mut short = file("1Day", 0.0);
    short.weights.pop();
    let e = load(CONFIG, &files_with(&short)).unwrap_err().to_string();
    assert!(e.contains("the file is damaged"), "{e}");
    let files = HashMap::from([(
        PathBuf::from("/bot/data/models/AAPL-1Day-logreg-v1.json"),
        "{\"format\": 1".to_string(),
    )]);
    let e = load(CONFIG, &files).unwrap_err().to_string();
    assert!(e.contains("is not a model file"), "{e}");
}

#[test]
fn a_missing_model_file_says_how_to_make_it() {
    let e = load(CONFIG, &HashMap::new()).unwrap_err().to_string();
    assert!(
        e.contains(
            ":13: `path`: cannot read the model file /bot/data/models/AAPL-1Day-logreg-v1.json"
        ),
        "{e}"
    );
    assert!(
        e.contains("prometheus-bot train --symbol AAPL --timeframe 1Day"),
        "{e}"
    );
}

#[test]
fn the_threshold_must_leave_the_two_bands_apart() {
    let e = load(&CONFIG.replace("0.6 }", "0.4 }"), &HashMap::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains(":13: `threshold`: must be at least 0.5"), "{e}");
}

#[test]
fn the_path_key_is_found_in_a_strategy_table_too() {
    let text = "[[symbol]]\nname = \"A\"\n[symbol.strategy]\nkind = \"model\"\n# path = \"x\"\npath = \"m.json\"\n";
    assert_eq!(path_line(text, 0), Some(6));
    assert_eq!(path_line(text, 1), None);
    assert_eq!(path_line(CONFIG, 1), Some(13));
}

#[test]
fn an_unvalidated_model_is_refused_unless_the_strategy_says_trade_unvalidated_then_warned() {
    let mut f = file("1Day", 0.0);
    f.validation.beats_baselines = false;
    let e = load(CONFIG, &files_with(&f)).unwrap_err().to_string();
    assert!(
        e.contains("/bot/config.toml:13: `path`:")
            && e.contains("AAPL-1Day-logreg-v1.json did NOT beat the baselines")
            && e.contains("trade_unvalidated = true"),
        "{e}"
    );
    let text = CONFIG.replace(
        "threshold = 0.6 }",
        "threshold = 0.6, trade_unvalidated = true, drift_limit = 3.5, max_age_days = 30 }",
    );
    let config = load(&text, &files_with(&f)).unwrap();
    let Strategy::Model {
        drift_limit,
        max_age_days,
        trained_until,
        ..
    } = &config.symbols[1].strategy
    else {
        panic!()
    };
    assert_eq!((*drift_limit, *max_age_days), (3.5, Some(30)));
    assert_eq!(
        trained_until.unwrap().to_string(),
        "2022-12-30 05:00:00 UTC"
    );
    // Two warnings, each naming the symbol and file: unvalidated, and 0.6 against 0.55.
    assert_eq!(config.warnings.len(), 2, "{:?}", config.warnings);
    assert!(config.warnings[0]
        .starts_with("AAPL: the model /bot/data/models/AAPL-1Day-logreg-v1.json did NOT beat"));
    assert!(config.warnings[1].contains("validated with threshold 0.55"));
    // The drift limit defaults to 4 and must not be negative.
    let config = load(CONFIG, &files_with(&file("1Day", 0.0))).unwrap();
    assert!(
        matches!(config.symbols[1].strategy, Strategy::Model { drift_limit, .. } if drift_limit == 4.0)
    );
    let e = load(
        &CONFIG.replace("0.6 }", "0.6, drift_limit = -1 }"),
        &HashMap::new(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("drift_limit"), "{e}");
}

#[test]
fn a_model_trained_on_the_other_live_feed_is_refused() {
    let mut f = file("1Day", 0.0);
    f.feed = "sip".into();
    let e = load(CONFIG, &files_with(&f)).unwrap_err().to_string();
    assert!(
        e.contains("was trained on sip bars but [alpaca] feed is iex"),
        "{e}"
    );
    let text = format!("[alpaca]\nfeed = \"sip\"\n\n{CONFIG}");
    assert!(load(&text, &files_with(&f)).is_ok());
}

#[test]
fn a_backtest_or_replay_loads_what_a_tick_would_refuse_with_a_warning() {
    let mut f = file("1Day", 0.0);
    f.validation.beats_baselines = false;
    f.feed = "sip".into();
    let mut config = Config::from_str(CONFIG, Path::new("/bot/config.toml")).unwrap();
    let files = files_with(&f);
    attach(&mut config, CONFIG, false, |p| Ok(files[p].clone())).unwrap();
    assert!(matches!(
        &config.symbols[1].strategy,
        Strategy::Model { model: Some(_), .. }
    ));
    assert!(
        config.warnings[0].contains("did NOT beat the baselines")
            && config.warnings[0].ends_with("(a tick would refuse it)"),
        "{:?}",
        config.warnings
    );
}
