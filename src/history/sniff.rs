//! The shape of a foreign CSV before its rows are read: which character separates the cells and
//! which lines are the header.
//!
//! Files come from tools that disagree on both. Spreadsheets in most of Europe write `;`
//! (their decimal separator is the comma); yfinance's `download()` writes pandas' two-level
//! columns as three header lines (`Price,Close,…` / `Ticker,AAPL,…` / `Date,,,…`); pandas'
//! `to_csv` leaves the index column's name empty when the index was never named. Guessing here,
//! once, keeps the row parser in [`super::import`] one shape.

/// What [`sniff`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// The cell separator: `,`, `;` or a tab.
    pub delimiter: u8,
    /// Column names, lower case, byte-order mark removed; an empty first name (pandas' unnamed
    /// index) is `date` when no other column names the time.
    pub names: Vec<String>,
    /// The header as written (its first line), for messages.
    pub written: String,
    /// Lines before the first row of data (1 for a plain header, 3 for yfinance's).
    pub header_lines: usize,
    /// The yfinance `download()` header (`Price` / `Ticker` / `Date` lines).
    pub yfinance_download: bool,
    /// The distinct tickers of a yfinance `download()` header, in order (upper case).
    pub tickers: Vec<String>,
}

/// The names a time column goes by.
pub const TIME_NAMES: [&str; 5] = ["time", "date", "datetime", "timestamp", "time_utc"];

/// Look at the first lines of `text`.
pub fn sniff(text: &str) -> Shape {
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or("");
    let delimiter = delimiter(first);
    let cells = |line: &str| -> Vec<String> {
        line.split(delimiter as char)
            .map(|c| c.trim().trim_matches('"').trim().to_ascii_lowercase())
            .collect()
    };
    let mut names = cells(first);
    let mut header_lines = 1;
    let mut yfinance_download = false;
    let mut tickers: Vec<String> = Vec::new();
    let second = lines.next().map(cells);
    let third = lines.next().map(cells);
    if names.first().map(String::as_str) == Some("price")
        && second.as_ref().and_then(|c| c.first()).map(String::as_str) == Some("ticker")
    {
        // yfinance `download()`: line 1 names the prices, line 2 the ticker, line 3 the index.
        yfinance_download = true;
        header_lines = 2;
        for t in second.iter().flatten().skip(1) {
            let t = t.to_ascii_uppercase();
            if !t.is_empty() && !tickers.contains(&t) {
                tickers.push(t);
            }
        }
        if let Some(third) = third
            .filter(|c| TIME_NAMES.contains(&c[0].as_str()) && c[1..].iter().all(String::is_empty))
        {
            names[0] = third[0].clone();
            header_lines = 3;
        } else {
            names[0] = "date".into();
        }
    }
    let names_time = names.iter().any(|n| TIME_NAMES.contains(&n.as_str()));
    if names.first().is_some_and(String::is_empty) && !names_time {
        names[0] = "date".into();
    }
    Shape {
        delimiter,
        names,
        written: first.to_string(),
        header_lines,
        yfinance_download,
        tickers,
    }
}

/// The separator the header line uses most: `;` or a tab when either outnumbers the commas.
fn delimiter(header: &str) -> u8 {
    let count = |c: char| header.matches(c).count();
    let (commas, semicolons, tabs) = (count(','), count(';'), count('\t'));
    if semicolons > commas && semicolons >= tabs {
        b';'
    } else if tabs > commas {
        b'\t'
    } else {
        b','
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_are_the_headers_most_common() {
        assert_eq!(sniff("Date;Open;High;Low;Close\n").delimiter, b';');
        assert_eq!(sniff("Date\tOpen\tHigh\tLow\tClose\n").delimiter, b'\t');
        assert_eq!(sniff("Date,Open,High,Low,Close\n").delimiter, b',');
        assert_eq!(sniff("").delimiter, b',');
    }

    #[test]
    fn yfinance_download_three_lines_become_one_header() {
        let s = sniff(
            "Price,Close,High,Low,Open,Volume\nTicker,AAPL,AAPL,AAPL,AAPL,AAPL\nDate,,,,,\n\
             2024-01-02,1,2,0.5,1,10\n",
        );
        assert!(s.yfinance_download);
        assert_eq!(s.header_lines, 3);
        assert_eq!(s.names, ["date", "close", "high", "low", "open", "volume"]);
        assert_eq!(s.tickers, ["AAPL"]);
        // Without the index line (a hand-trimmed file) the data starts on line 3.
        let s = sniff("Price,Close,High,Low,Open\nTicker,X,X,X,X\n2024-01-02,1,2,0.5,1\n");
        assert_eq!((s.header_lines, s.names[0].as_str()), (2, "date"));
    }

    #[test]
    fn pandas_unnamed_index_is_the_date_unless_a_time_column_exists() {
        let s = sniff("\u{feff},Open,High,Low,Close,Volume\n");
        assert_eq!(s.names[0], "date");
        let s = sniff(",time,open,high,low,close\n");
        assert_eq!(s.names[..2], ["", "time"]);
    }
}
