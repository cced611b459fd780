//! The doorway: parse, log, run, exit code. Everything else lives in the library.

use prometheus_bot::error::Error;
use prometheus_bot::{cli::Cli, logging, out};
use std::io::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    let cli = match <Cli as argh::FromArgs>::from_args(&strs[..1], &strs[1..]) {
        Ok(cli) => cli,
        Err(early) => {
            // --help prints to stdout and exits 0 (also when `| head` closed it early);
            // a usage mistake goes to stderr, exit 2.
            return match early.status {
                Ok(()) => {
                    let _ = out::line(format_args!("{}", early.output));
                    ExitCode::SUCCESS
                }
                Err(()) => {
                    let _ = writeln!(std::io::stderr(), "{}", early.output);
                    ExitCode::from(2)
                }
            };
        }
    };
    logging::init_stderr();
    match prometheus_bot::run(cli) {
        Ok(()) | Err(Error::StdoutClosed) => ExitCode::SUCCESS,
        Err(e) => {
            logging::error_to_file(&e.to_string());
            // `eprintln!` would panic (exit 101) if stderr's reader had gone too.
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
