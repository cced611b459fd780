//! The doorway: parse, log, run, exit code. Everything else lives in the library.

use prometheus_bot::cli::{self, Parsed};
use prometheus_bot::error::Error;
use prometheus_bot::{logging, out};
use std::io::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args();
    let program = args.next().unwrap_or_else(|| "prometheus-bot".into());
    let args: Vec<String> = args.collect();
    let cli = match cli::parse(&program, &args) {
        Parsed::Run(cli) => cli,
        // Help and --version print to stdout and exit 0 (also when `| head` closed it early);
        // a usage mistake goes to stderr, exit 2.
        Parsed::Print(text) => {
            let _ = out::line(format_args!("{text}"));
            return ExitCode::SUCCESS;
        }
        Parsed::Usage(text) => {
            let _ = writeln!(std::io::stderr(), "{text}");
            return ExitCode::from(2);
        }
    };
    logging::init_stderr();
    match prometheus_bot::run(*cli) {
        Ok(()) | Err(Error::StdoutClosed) => {
            logging::open_pending();
            ExitCode::SUCCESS
        }
        Err(e) => {
            // A usage, config or keys error (exit 2) needs a person and did nothing: it goes to
            // stderr only, so that such a run leaves no file behind (not even an empty log).
            if e.exit_code() != 2 {
                logging::error_to_file(&e.to_string());
            }
            // `eprintln!` would panic (exit 101) if stderr's reader had gone too.
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
