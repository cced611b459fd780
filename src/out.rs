//! The one path to stdout for results (summary lines, tables, reports); diagnostics go to
//! stderr through `log`, never here.
//!
//! `println!` panics when stdout's reader has gone (`status | head -1`): Rust ignores SIGPIPE,
//! so the write fails with EPIPE and the panic exits 101 with a message on stderr. Here that
//! failure becomes [`Error::StdoutClosed`], which `main` turns into a quiet exit 0, as ripgrep
//! and xsv do. Any other write failure (a full disk behind `> file`) is an ordinary I/O error.
//!
//! A command returns at its first failed write, so a command with side effects prints only
//! after its work is done (files written, state saved): a closed stdout can stop the talking,
//! never the work.

use crate::error::{Error, Result};
use std::fmt;
use std::io::{self, Write};

/// Print one line (the `outln!` macro's target).
pub fn line(args: fmt::Arguments<'_>) -> Result<()> {
    write_line(&mut io::stdout().lock(), args)
}

/// Print text as it is (it carries its own newlines).
pub fn text(text: &str) -> Result<()> {
    write_text(&mut io::stdout().lock(), text)
}

fn write_line(w: &mut impl Write, args: fmt::Arguments<'_>) -> Result<()> {
    w.write_fmt(args)
        .and_then(|()| w.write_all(b"\n"))
        .and_then(|()| w.flush())
        .map_err(stdout_error)
}

fn write_text(w: &mut impl Write, text: &str) -> Result<()> {
    w.write_all(text.as_bytes())
        .and_then(|()| w.flush())
        .map_err(stdout_error)
}

fn stdout_error(e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Error::StdoutClosed
    } else {
        Error::io("stdout", "write to", e)
    }
}

/// `println!` for results: `outln!("{x}")?` returns [`Error::StdoutClosed`] when the reader
/// has gone, so the command stops talking and the process exits 0.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::out::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::out::line(format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that went away: every write fails as a write to a widowed pipe does.
    struct Widowed;

    impl Write for Widowed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A disk that is full.
    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::StorageFull))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_reader_is_the_quiet_exit_not_an_io_error() {
        let e = write_line(&mut Widowed, format_args!("AAPL hold")).unwrap_err();
        assert!(matches!(e, Error::StdoutClosed), "{e:?}");
        assert_eq!(e.exit_code(), 0);
        let e = write_text(&mut Widowed, "table\n").unwrap_err();
        assert!(matches!(e, Error::StdoutClosed), "{e:?}");
    }

    #[test]
    fn any_other_write_failure_is_an_io_error_exit_one() {
        let e = write_line(&mut Full, format_args!("x")).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e:?}");
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().starts_with("cannot write to stdout"), "{e}");
    }

    #[test]
    fn a_line_ends_with_one_newline() {
        let mut buf = Vec::new();
        write_line(&mut buf, format_args!("{} {}", "AAPL", 3)).unwrap();
        write_line(&mut buf, format_args!("")).unwrap();
        write_text(&mut buf, "a\nb\n").unwrap();
        assert_eq!(String::from_utf8(buf).unwrap(), "AAPL 3\n\na\nb\n");
    }
}
