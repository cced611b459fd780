//! A self-contained HTML page: headings, notes, tables and charts, one inline stylesheet, no
//! scripts, no network. Every chart is given in a wide and a narrow drawing and CSS shows the
//! one that fits the screen, so labels stay readable on a phone. Pure: returns a `String`.

use super::svg::{self, escape, Size};
use std::fmt::Write as _;

const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;padding:16px;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1b1b;background:#f6f7f9}\
main{max-width:1040px;margin:0 auto}\
h1{font-size:1.45em;margin:.2em 0 .1em}h2{font-size:1.15em;margin:1.6em 0 .5em}\
p.sub{color:#555;margin:.2em 0 1em}p.note{color:#555;font-size:.92em}\
section,figure{background:#fff;border:1px solid #e2e4e8;border-radius:8px;padding:10px;margin:0 0 14px}\
figure svg{display:block}\
.narrow{display:none}\
@media (max-width:680px){body{padding:8px}.wide{display:none}.narrow{display:block}table{font-size:13px}th,td{padding:3px 5px}}\
.scroll{overflow-x:auto}\
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}\
th,td{padding:4px 8px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}\
th:first-child,td:first-child{text-align:left}\
thead th{background:#f0f2f5;position:sticky;top:0}\
tr.best td{background:#fff4d6}\
dl.facts{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:4px 14px;margin:0}\
dl.facts dt{color:#555}dl.facts dd{margin:0;overflow-wrap:anywhere;white-space:normal}\
";

/// A page under construction.
#[derive(Debug, Default)]
pub struct Page {
    body: String,
}

impl Page {
    /// A page with a title and a subtitle line.
    pub fn new(title: &str, subtitle: &str) -> Page {
        let mut p = Page::default();
        let _ = write!(
            p.body,
            "<h1>{}</h1><p class=\"sub\">{}</p>",
            escape(title),
            escape(subtitle)
        );
        p
    }

    pub fn heading(&mut self, text: &str) -> &mut Self {
        let _ = write!(self.body, "<h2>{}</h2>", escape(text));
        self
    }

    pub fn note(&mut self, text: &str) -> &mut Self {
        let _ = write!(self.body, "<p class=\"note\">{}</p>", escape(text));
        self
    }

    /// A chart drawn by `draw` at both sizes.
    pub fn chart(&mut self, draw: impl Fn(Size) -> String) -> &mut Self {
        let _ = write!(
            self.body,
            "<figure><div class=\"wide\">{}</div><div class=\"narrow\">{}</div></figure>",
            draw(svg::WIDE),
            draw(svg::NARROW)
        );
        self
    }

    /// Labelled values that wrap, never clip: a status card whose values are sentences (an
    /// error, the guards) must show every line of them on a phone, where a table's
    /// one-line cells would scroll the later rows out of sight or cut a word.
    pub fn facts(&mut self, facts: &[(String, String)]) -> &mut Self {
        self.body.push_str("<section><dl class=\"facts\">");
        for (label, value) in facts {
            let _ = write!(
                self.body,
                "<dt>{}</dt><dd>{}</dd>",
                escape(label),
                escape(value)
            );
        }
        self.body.push_str("</dl></section>");
        self
    }

    /// A table: a header row and rows of cells (the first cell is the row's label).
    /// `highlight` marks one row (e.g. the best of a sweep).
    pub fn table(
        &mut self,
        header: &[&str],
        rows: &[Vec<String>],
        highlight: Option<usize>,
    ) -> &mut Self {
        self.body
            .push_str("<section class=\"scroll\"><table><thead><tr>");
        for h in header {
            let _ = write!(self.body, "<th>{}</th>", escape(h));
        }
        self.body.push_str("</tr></thead><tbody>");
        for (i, row) in rows.iter().enumerate() {
            let class = if Some(i) == highlight {
                " class=\"best\""
            } else {
                ""
            };
            let _ = write!(self.body, "<tr{class}>");
            for cell in row {
                let _ = write!(self.body, "<td>{}</td>", escape(cell));
            }
            self.body.push_str("</tr>");
        }
        self.body.push_str("</tbody></table></section>");
        self
    }

    /// The finished document.
    pub fn finish(&self, title: &str) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>{}</title><style>{STYLE}</style></head><body><main>{}</main></body></html>\n",
            escape(title),
            self.body
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_is_self_contained_and_escaped() {
        let mut p = Page::new("GOOG <test>", "2004 – 2013");
        p.heading("Metrics")
            .table(
                &["Metric", "Value"],
                &[vec!["Return [%]".into(), "5 & more".into()]],
                Some(0),
            )
            .chart(|size| format!("<svg width=\"{}\"></svg>", size.width))
            .note("a note");
        let html = p.finish("title");
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("GOOG &lt;test&gt;") && html.contains("5 &amp; more"));
        assert!(html.contains("class=\"best\""));
        assert!(html.contains("<svg width=\"960\">") && html.contains("<svg width=\"420\">"));
        for banned in ["<script", "src=", "href=", "@import", "url("] {
            assert!(!html.contains(banned), "{banned}");
        }
    }
}
