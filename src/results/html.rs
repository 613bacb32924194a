//! The HTML report: one self-contained page (inline CSS, inline SVG charts,
//! a few lines of inline script), which opens offline and fetches nothing:
//! its Content-Security-Policy forbids every fetch, so a stray reference
//! would show up as a console error, which the browser check fails on.
//!
//! The page: the run's settings and the generator's saturation verdict,
//! the whole-run tables (requests, latency, errors, one row per part when
//! merged), then the charts (`charts.rs`). Every text from a report goes
//! through [`escape`].
//!
//! The inline script checks the page as a browser drew it: each chart's
//! data lines ([`DATA_STROKE`](super::plots::DATA_STROKE) polylines with a
//! non-empty box) number at least what the chart says it drew
//! (`data-lines`). It writes `data-plots-ok="DRAWN/CHARTS"` on `<body>` and
//! logs a console error per chart that fails (`tests/report_browser.rs`).

use super::charts::{Figure, figures};
use super::model::RunDoc;
use super::tables::{hosts, settings, totals};
use std::fmt::Write as _;

/// The page's stylesheet: plain, printable, two charts per row when wide.
const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222;max-width:1400px}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;\
text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}\
.charts{display:flex;flex-wrap:wrap;gap:12px}figure.plot{margin:0;border:1px solid #ddd}\
.missing{color:#555;font-style:italic}.bad{color:#b00;font-weight:bold}.ok{color:#070}";

/// The self-check (see the module doc).
const CHECK: &str = "(function(){var figs=document.querySelectorAll('figure.plot');var ok=0;\
figs.forEach(function(f){var n=0;f.querySelectorAll('polyline[stroke-width=\"2\"]').forEach(\
function(p){var b=p.getBBox();if(p.points.numberOfItems>=2&&(b.width>0||b.height>0))n++;});\
var c=f.querySelectorAll('circle').length;f.dataset.drawn=n;\
if(n>=Number(f.dataset.lines)&&n+c>0)ok++;else console.error('plot without data: '+f.id);});\
document.body.dataset.plotsOk=ok+'/'+figs.length;})();";

/// `text` safe inside HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page of `doc`.
pub fn html(doc: &RunDoc) -> String {
    let mut s = String::new();
    let title = format!(
        "sockloop report: {} {}",
        doc.service.as_deref().unwrap_or("?"),
        doc.label.as_deref().unwrap_or("")
    );
    // Writing to a String cannot fail.
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    settings(&mut s, doc);
    totals(&mut s, doc);
    hosts(&mut s, doc);
    s.push_str("<h2>Charts</h2>\n<div class=\"charts\">\n");
    for figure in figures(doc) {
        match figure {
            Figure::Chart(id, chart) => match chart.svg() {
                Some(Ok(svg)) => {
                    let _ = writeln!(
                        s,
                        "<figure class=\"plot\" id=\"{id}\" data-lines=\"{}\">{svg}</figure>",
                        chart.data_lines()
                    );
                }
                Some(Err(e)) => {
                    let _ = writeln!(s, "<p class=\"missing\">{}</p>", escape(&e));
                }
                None => {
                    let _ = writeln!(
                        s,
                        "<p class=\"missing\">{}: no data.</p>",
                        escape(&chart.title)
                    );
                }
            },
            Figure::Missing(title, why) => {
                let _ = writeln!(
                    s,
                    "<p class=\"missing\">{}: {}</p>",
                    escape(title),
                    escape(&why)
                );
            }
        }
    }
    let _ = write!(s, "</div>\n<script>{CHECK}</script>\n</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::model::Second;

    #[test]
    fn text_from_a_report_is_escaped() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        let doc = RunDoc {
            label: Some("<script>alert(1)</script>".into()),
            ..RunDoc::default()
        };
        let page = html(&doc);
        assert!(!page.contains("<script>alert"), "escaped");
        assert_eq!(page.matches("<script>").count(), 1, "only the self-check");
    }

    #[test]
    fn a_page_has_its_charts_or_says_why_not_and_fetches_nothing() {
        let series = (0..3)
            .map(|i| Second {
                second: i,
                unix: 100 + i as i64,
                completed: 10 * i,
                sent: 10 * i,
                p50_us: Some(5.0),
                p99_us: Some(9.0),
                max_us: Some(12.0),
                conns_open: 4,
                ..Second::default()
            })
            .collect();
        let doc = RunDoc {
            service: Some("echo".into()),
            series: Some(series),
            ..RunDoc::default()
        };
        let page = html(&doc);
        for id in ["throughput", "latency", "connections"] {
            assert!(page.contains(&format!("id=\"{id}\"")), "{id}");
        }
        assert!(page.contains("No errors in this run."));
        assert!(
            page.contains("Latency by percentile: no data."),
            "no samples"
        );
        assert!(page.contains("default-src 'none'"));
        for fetch in ["src=", "<link", "url(", "@import"] {
            assert!(!page.contains(fetch), "{fetch}");
        }
    }
}
