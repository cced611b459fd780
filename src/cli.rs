//! The command line. Doc comments here are the `--help` text; [`parse`] adds what argh lacks
//! and people expect of a CLI: `-h`, `--version`/`-V`, and "did you mean" for a misspelt
//! command.

use argh::{FromArgs, SubCommands};
use std::path::PathBuf;

/// prometheus-bot: a once-a-minute trading bot for US stocks on Alpaca (paper by default).
///
/// Exit codes: 0 ok (a hold, a closed market, a dry run), 1 runtime failure (broker, network,
/// disk), 2 usage or config error, 3 another tick holds the lock. Help: -h or --help after
/// any command; the version: --version.
#[derive(FromArgs, Debug)]
pub struct Cli {
    /// the config file (default: config.toml in the current folder); paths inside it resolve
    /// against its own folder
    #[argh(option, default = "PathBuf::from(\"config.toml\")")]
    pub config: PathBuf,

    #[argh(subcommand)]
    pub command: Command,
}

// `BacktestArgs` is much larger than the others; the enum is built once per process.
#[allow(clippy::large_enum_variant)]
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    Tick(TickArgs),
    Check(CheckArgs),
    Fetch(FetchArgs),
    Import(ImportArgs),
    Data(DataArgs),
    Reconcile(ReconcileArgs),
    Rearm(RearmArgs),
    Backtest(BacktestArgs),
    Replay(ReplayArgs),
    Train(TrainArgs),
    Status(StatusArgs),
    Report(ReportArgs),
}

/// One trading step: lock, read the broker clock, prices and bars, decide, order, record.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "tick")]
pub struct TickArgs {
    /// decide and record, but place no order
    #[argh(switch)]
    pub dry_run: bool,

    /// allow live trading (also needs `live = true` and the live trading_url in the config)
    #[argh(switch)]
    pub live: bool,
}

/// Validate the config and keys, call the broker and the data feed once, and report whether a
/// tick could trade.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "check")]
pub struct CheckArgs {}

/// Download bars into the local cache (data/bars/SYMBOL-TIMEFRAME.csv); re-running fetches only
/// what is missing.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "fetch")]
pub struct FetchArgs {
    /// symbols to fetch (default: the config's symbols)
    #[argh(positional)]
    pub symbols: Vec<String>,

    /// bar size: 1Min 5Min 15Min 1Hour 1Day (default 1Day)
    #[argh(option, default = "String::from(\"1Day\")")]
    pub timeframe: String,

    /// first day, YYYY-MM-DD (default 2016-01-01, where Alpaca's history starts)
    #[argh(option, default = "String::from(\"2016-01-01\")")]
    pub start: String,

    /// last day, YYYY-MM-DD, inclusive (default: now)
    #[argh(option)]
    pub end: Option<String>,

    /// data feed: iex or sip (default: the config's feed)
    #[argh(option)]
    pub feed: Option<String>,

    /// price adjustment: raw, split, dividend or all (default raw, or what the cache holds)
    #[argh(option)]
    pub adjustment: Option<String>,
}

/// Turn a CSV from elsewhere (Yahoo Finance, Stooq, or any time/open/high/low/close file) into
/// the bar cache, merging with what is there.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "import")]
pub struct ImportArgs {
    /// the CSV file to import
    #[argh(positional)]
    pub file: PathBuf,

    /// the symbol the file holds
    #[argh(option)]
    pub symbol: String,

    /// bar size of the file (default 1Day)
    #[argh(option, default = "String::from(\"1Day\")")]
    pub timeframe: String,

    /// time zone of times without an offset (default America/New_York, the exchange's)
    #[argh(option, default = "String::from(\"America/New_York\")")]
    pub tz: String,

    /// price adjustment the file carries (default: split for Yahoo files, else raw)
    #[argh(option)]
    pub adjustment: Option<String>,
}

/// Inspect or repair the bar cache.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "data")]
pub struct DataArgs {
    #[argh(subcommand)]
    pub command: DataCommand,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum DataCommand {
    Check(DataCheckArgs),
    Repair(DataRepairArgs),
}

/// Report range, bar count, duplicates, disorder, gaps and impossible bars per cached file;
/// exit 1 if a file is unusable or a symbol named here has no cached file.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "check")]
pub struct DataCheckArgs {
    /// symbols to check (default: every cached file)
    #[argh(positional)]
    pub symbols: Vec<String>,
}

/// Sort cached bar files and drop duplicate timestamps (the later row of a duplicate is kept);
/// the file as it was is kept beside it as <file>.before-repair-<UTC time>.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "repair")]
pub struct DataRepairArgs {
    /// symbols to repair (default: every cached file)
    #[argh(positional)]
    pub symbols: Vec<String>,
}

/// Compare the ledgers with the broker (orders, fills, positions); exit 1 on any mismatch.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "reconcile")]
pub struct ReconcileArgs {
    /// first day to compare, YYYY-MM-DD (default: 30 days ago)
    #[argh(option)]
    pub since: Option<String>,

    /// append what the ledgers miss, marked as recovered (never rewrites a row)
    #[argh(switch)]
    pub repair: bool,

    /// with --repair: confirm shares no fill or split activity explains, as SYMBOL=SHARES (the
    /// bot's total after the change, e.g. AAPL=20); the difference becomes an adjustment row
    #[argh(option)]
    pub adjust: Vec<String>,
}

/// Clear a drawdown halt so that ticks trade again; the equity peak restarts from now.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "rearm")]
pub struct RearmArgs {}

/// Replay cached bars through the strategies the tick runs (same decision code, same config
/// section) and report trades, equity and backtesting.py's metrics; or sweep parameters, or
/// walk forward. Reads data/bars/SYMBOL-TIMEFRAME.csv (fill it with `fetch` or `import`);
/// writes trades.csv, equity.csv, metrics.json and report.html to --out.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "backtest")]
pub struct BacktestArgs {
    /// symbol to test, repeatable (default: every symbol of the config, as one portfolio)
    #[argh(option)]
    pub symbol: Vec<String>,

    /// bar size: 1Min 5Min 15Min 1Hour 1Day (default 1Day, what `fetch` fetches by default)
    #[argh(option, default = "String::from(\"1Day\")")]
    pub timeframe: String,

    /// first day to use, YYYY-MM-DD (UTC; default: the first cached bar)
    #[argh(option)]
    pub start: Option<String>,

    /// last day to use, YYYY-MM-DD, inclusive (UTC; default: the last cached bar)
    #[argh(option)]
    pub end: Option<String>,

    /// starting cash in dollars (default 10000)
    #[argh(option, default = "10_000.0")]
    pub cash: f64,

    /// commission as a fraction of each fill's value, at entry and exit (default 0)
    #[argh(option, default = "0.0")]
    pub commission: f64,

    /// fixed commission in dollars per fill (default 0)
    #[argh(option, default = "0.0")]
    pub commission_fixed: f64,

    /// adverse slippage on entries, in basis points (default 0)
    #[argh(option, default = "0.0")]
    pub slippage_bps: f64,

    /// when an order decided on a bar fills: next-open (default) or close
    #[argh(option, default = "String::from(\"next-open\")")]
    pub fill: String,

    /// close a position still open at the end (backtesting.py's finalize_trades)
    #[argh(switch)]
    pub close_at_end: bool,

    /// apply the config's [risk] guards as the tick does (position and order-value limits,
    /// orders per day, daily loss, drawdown halt); off by default, like backtesting.py
    #[argh(switch)]
    pub risk: bool,

    /// sizing for every symbol: all-in, qty=N, notional=DOLLARS or fraction=F (default: each
    /// symbol's qty / notional / equity_fraction from the config)
    #[argh(option)]
    pub sizing: Option<String>,

    /// strategy kind for every symbol, e.g. sma_cross (default: each symbol's from the config)
    #[argh(option)]
    pub strategy: Option<String>,

    /// strategy parameter NAME=VALUE, repeatable, e.g. --param fast=10 --param slow=30
    #[argh(option)]
    pub param: Vec<String>,

    /// sweep a parameter: NAME=A..B:STEP (B excluded, like Python's range), NAME=A..=B:STEP
    /// or NAME=V1,V2; repeatable, and further NAME=... words after it are swept too
    #[argh(option)]
    pub sweep: Vec<String>,

    /// the metric a sweep ranks by, largest first (default SQN), e.g. "Sharpe Ratio"
    #[argh(option, default = "String::from(\"SQN\")")]
    pub rank: String,

    /// walk forward: train=BARS test=BARS (optimise the --sweep grid on each training
    /// window, trade the next test window with the winner)
    #[argh(option)]
    pub walk_forward: Vec<String>,

    /// walk-forward training windows all start at the first bar (default: rolling)
    #[argh(switch)]
    pub anchored: bool,

    /// output folder (default: data/backtests/<UTC time>/ under the config's data_dir)
    #[argh(option)]
    pub out: Option<PathBuf>,

    /// threads for sweeps (default: all cores)
    #[argh(option)]
    pub threads: Option<usize>,

    /// more NAME=... words for --sweep or train=/test= for --walk-forward
    #[argh(positional)]
    pub more: Vec<String>,
}

/// Run the real tick over history: once per bar, at the bar's open, against a simulated broker
/// holding the cached bars (no keys, no network). Writes the ledgers, state and dashboard of
/// the run into --out (never the live data folder), then prints backtest's metrics table.
/// `replay --sample` needs no config: the embedded daily GOOG bars with sma_cross 10/20.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "replay")]
pub struct ReplayArgs {
    /// symbol to replay, repeatable (default: every symbol of the config)
    #[argh(option)]
    pub symbol: Vec<String>,

    /// bar size: 1Min 5Min 15Min 1Hour 1Day (default: the config's timeframe)
    #[argh(option)]
    pub timeframe: Option<String>,

    /// first day to replay, YYYY-MM-DD (UTC; default: the first cached bar)
    #[argh(option)]
    pub from: Option<String>,

    /// last day to replay, YYYY-MM-DD, inclusive (UTC; default: the last cached bar)
    #[argh(option)]
    pub to: Option<String>,

    /// the replay's own data folder (default: data/replay beside the config, or in the
    /// current folder with --sample); a folder a previous replay wrote is replaced, any
    /// other is refused
    #[argh(option)]
    pub out: Option<PathBuf>,

    /// starting cash of the simulated account, in dollars (default 10000, as backtest)
    #[argh(option, default = "10_000.0")]
    pub cash: f64,

    /// where a market order fills: next-open (default: the opening print of the bar the tick
    /// runs at) or close (the close of the bar decided on), as backtest --fill
    #[argh(option, default = "String::from(\"next-open\")")]
    pub fill: String,

    /// replay the embedded sample (real daily GOOG prices 2004-2013, sma_cross 10/20) without
    /// a config file
    #[argh(switch)]
    pub sample: bool,
}

/// A five-second summary: last tick, market, guards, equity and P&L, positions, open orders,
/// recent decisions.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
pub struct StatusArgs {
    /// from the files alone, without asking the broker
    #[argh(switch)]
    pub offline: bool,
}

/// Train the learned strategy on cached bars with walk-forward validation: fit on each
/// window, predict only the next, print out-of-sample accuracy, log loss and the trading
/// result after costs beside buy & hold and sma_cross, and save the model to
/// data/models/SYMBOL-TIMEFRAME-logreg-v1.json (fitted on the last window; on all bars with
/// --anchored). Use it with `strategy = { kind = "model", path = "data/models/...", threshold = 0.55 }`.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "train")]
pub struct TrainArgs {
    /// the symbol whose cached bars to train on
    #[argh(option)]
    pub symbol: String,

    /// bar size: 1Min 5Min 15Min 1Hour 1Day (default 1Day); the model only runs on it
    #[argh(option, default = "String::from(\"1Day\")")]
    pub timeframe: String,

    /// bars ahead the label looks: "up" if close[t+horizon] beats close[t] by more than two
    /// commissions (default 5)
    #[argh(option, default = "5")]
    pub horizon: usize,

    /// bars per training window (default 756, three years of days)
    #[argh(option, default = "756")]
    pub train: usize,

    /// bars per test window, each predicted by the model of the window before it (default 126)
    #[argh(option, default = "126")]
    pub test: usize,

    /// grow the training window from the first bar instead of rolling it
    #[argh(switch)]
    pub anchored: bool,

    /// commission per fill as a fraction of notional, in labels and backtests (default 0.002)
    #[argh(option, default = "0.002")]
    pub commission: f64,

    /// L2 penalty on the weights, scikit-learn's 1/C (default 1.0)
    #[argh(option, default = "1.0")]
    pub l2: f64,

    /// long when P(up) >= threshold, exit when P(up) <= 1 - threshold (default 0.55)
    #[argh(option, default = "0.55")]
    pub threshold: f64,

    /// the verdict's rule: strict (return and Sharpe above both baselines and accuracy above
    /// the majority answer's; the default) or risk-adjusted (Sharpe above both baselines and
    /// out-of-sample returns significantly above zero)
    #[argh(option, default = "String::from(\"strict\")")]
    pub verdict: String,

    /// also write a CSV of every bar: time, features, label, test window, out-of-sample P(up)
    #[argh(option)]
    pub export: Option<std::path::PathBuf>,
}

/// Draw the ledgers as one self-contained HTML page (equity, drawdown, daily P&L, prices with
/// buys and sells, positions, fills, metrics).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "report")]
pub struct ReportArgs {
    /// where to write the page (default: logs/dashboard.html)
    #[argh(option)]
    pub out: Option<PathBuf>,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Parsed {
    /// A command to run (boxed: the arguments are large, the other variants a string).
    Run(Box<Cli>),
    /// Help or the version: print it on stdout, exit 0.
    Print(String),
    /// A usage mistake: print it on stderr, exit 2.
    Usage(String),
}

/// Parse `args` (without the program name; `program` is how the help names it).
///
/// `-h` means `--help` everywhere (argh knows only `--help` and `help`). `--version` or `-V`
/// before the command prints the version. An unknown command gets the nearest known one as a
/// suggestion. argh doubles the braces of a description in a command list (it escapes them for
/// `format!` and prints the escaped text): they are undoubled here, once for every help page.
pub fn parse(program: &str, args: &[String]) -> Parsed {
    if let Some(first) = first_word(args) {
        if first == "--version" || first == "-V" {
            return Parsed::Print(format!(
                "{} {}",
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION")
            ));
        }
    }
    let args: Vec<&str> = args
        .iter()
        .map(|a| if a == "-h" { "--help" } else { a.as_str() })
        .collect();
    match Cli::from_args(&[program], &args) {
        Ok(cli) => Parsed::Run(Box::new(cli)),
        Err(early) if early.status.is_ok() => {
            Parsed::Print(early.output.replace("{{", "{").replace("}}", "}"))
        }
        Err(early) => {
            let mut message = early.output.trim_end().to_string();
            if let Some(hint) = did_you_mean(&args) {
                message.push_str(&format!("\n{hint}"));
            }
            Parsed::Usage(message)
        }
    }
}

/// The first word that is not `--config PATH`.
fn first_word(args: &[String]) -> Option<&str> {
    let mut words = args.iter().map(String::as_str);
    while let Some(word) = words.next() {
        if word == "--config" {
            words.next();
            continue;
        }
        return Some(word);
    }
    None
}

/// "did you mean `check`?" when the command (or `data`'s command) is not known but one is
/// close to it: at most two edits (a transposition is one), and fewer than its length.
fn did_you_mean(args: &[&str]) -> Option<String> {
    let mut words = args.iter().copied();
    let mut known: Vec<&str> = Command::COMMANDS.iter().map(|c| c.name).collect();
    let mut context = String::new();
    while let Some(word) = words.next() {
        if word == "--config" {
            words.next();
            continue;
        }
        if word.starts_with('-') {
            return None;
        }
        if known.contains(&word) {
            if word != "data" {
                return None;
            }
            known = DataCommand::COMMANDS.iter().map(|c| c.name).collect();
            context = "data ".into();
            continue;
        }
        let (distance, best) = known.iter().map(|k| (edit_distance(word, k), *k)).min()?;
        return (distance <= 2 && distance < word.chars().count())
            .then(|| format!("did you mean `{context}{best}`? (see --help)"));
    }
    None
}

/// Optimal string alignment distance: insertions, deletions, substitutions and transpositions
/// of neighbours, each one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(words: &[&str]) -> Parsed {
        let args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        parse("prometheus-bot", &args)
    }

    #[test]
    fn distances_by_hand() {
        assert_eq!(edit_distance("tikc", "tick"), 1);
        assert_eq!(edit_distance("chek", "check"), 1);
        assert_eq!(edit_distance("stats", "status"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "tick"), 4);
    }

    #[test]
    fn a_misspelt_command_gets_the_nearest_one() {
        for (words, hint) in [
            (&["tikc"][..], Some("did you mean `tick`?")),
            (
                &["--config", "x.toml", "bactest"],
                Some("did you mean `backtest`?"),
            ),
            (&["data", "chek"], Some("did you mean `data check`?")),
            (&["stats", "--offline"], Some("did you mean `status`?")),
            (&["xyzzy"], None),
            (&["ab"], None),
        ] {
            let Parsed::Usage(message) = parse_words(words) else {
                panic!("{words:?} parsed");
            };
            match hint {
                Some(h) => assert!(message.contains(h), "{words:?}: {message}"),
                None => assert!(!message.contains("did you mean"), "{words:?}: {message}"),
            }
        }
    }

    #[test]
    fn short_help_and_version() {
        let Parsed::Print(help) = parse_words(&["-h"]) else {
            panic!("-h is help")
        };
        assert!(help.starts_with("Usage: prometheus-bot"), "{help}");
        let Parsed::Print(help) = parse_words(&["tick", "-h"]) else {
            panic!("tick -h is help")
        };
        assert!(help.contains("--dry-run"), "{help}");
        for words in [
            &["--version"][..],
            &["-V"],
            &["--config", "c.toml", "--version"],
        ] {
            let Parsed::Print(v) = parse_words(words) else {
                panic!("{words:?}")
            };
            assert_eq!(v, format!("prometheus-bot {}", env!("CARGO_PKG_VERSION")));
        }
    }

    /// argh printed the train command's `{ kind = "model" … }` as `{{ kind = "model" … }}`.
    #[test]
    fn help_shows_single_braces() {
        let Parsed::Print(help) = parse_words(&["--help"]) else {
            panic!("--help")
        };
        assert!(help.contains("`strategy = { kind = \"model\""), "{help}");
        assert!(!help.contains("{{") && !help.contains("}}"), "{help}");
    }
}
