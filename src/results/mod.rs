//! `sockloop report`: results people can merge and look at.
//!
//! Reads the parts of a run (`load --json` reports from several hosts or
//! workers, or HdrHistogram interval logs), merges them exactly where that
//! is possible and says where it is not, and prints the text report, the
//! merged JSON (`--json`) or one self-contained HTML page with plots
//! (`--html OUT`; also `load --html`).
//!
//! # Layout
//! - [`model`]: the JSON report as read and written ([`RunDoc`]), with
//!   `timeline.rs` (its series, stages and search) and `summary.rs` (a
//!   latency summary).
//! - `read.rs`: a file to a [`RunDoc`] (a JSON report, or an interval log).
//! - `merge.rs` (the whole-run figures, the settings check),
//!   `series.rs` (the time series, stages and search) and `exact.rs`
//!   (exact per-second percentiles, where parts carry per-second
//!   histograms).
//! - `human.rs`: the text report; `html.rs`: the page, with `tables.rs`
//!   (its tables); `charts.rs`: which
//!   charts it has; `plots.rs`: drawing one (plotters' SVG backend).
//!
//! It sits above `load` (it reads the generator's histogram bounds,
//! percentile rules and encodings) and below `cli`.

mod charts;
mod exact;
mod html;
mod human;
mod merge;
pub mod model;
mod plots;
mod read;
mod series;
mod summary;
mod tables;
mod timeline;

pub use html::html;
pub use human::human;
pub use merge::{check_settings, merge};
pub use model::RunDoc;
pub use read::parse;

use crate::error::Error;
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Most bytes `report` reads over all its files (512 MiB): what is parsed
/// stays in memory until the merge, a few times the file's size at most.
pub const MAX_TOTAL_BYTES: u64 = 512 << 20;

/// Most files one `report` merges: a fleet of generators, bounded so that
/// a glob gone wrong cannot read a disk's worth of files into memory (each
/// part keeps its decoded histograms, some hundred KiB, while merging).
pub const MAX_PARTS: usize = 1024;

/// `sockloop report`: flags.
#[derive(Debug, Args, PartialEq)]
pub struct ReportArgs {
    /// The parts: `load --json` reports (one per host or worker), or
    /// HdrHistogram interval logs (`load --hdr-log`).
    #[arg(value_name = "FILE", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Print the merged report as one JSON object on stdout (the text
    /// report goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Write the HTML report (one self-contained file) to OUT.
    #[arg(long, value_name = "OUT")]
    pub html: Option<PathBuf>,
}

/// Reads, merges and reports.
pub fn run(args: &ReportArgs) -> Result<(), Error> {
    if args.files.len() > MAX_PARTS {
        return Err(format!("report: at most {MAX_PARTS} files").into());
    }
    let mut total = 0u64;
    for f in &args.files {
        total += std::fs::metadata(f).map_or(0, |m| m.len());
    }
    if total > MAX_TOTAL_BYTES {
        return Err(format!("report: the files hold more than {MAX_TOTAL_BYTES} bytes").into());
    }
    let parts = args
        .files
        .iter()
        .map(|f| read::read(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("report: {e}"))?;
    let doc = if let [one] = parts.as_slice() {
        one.clone()
    } else {
        merge(&parts).map_err(|e| format!("report: {e}"))?
    };
    if let Some(out) = &args.html {
        write_html(out, &doc).map_err(|e| format!("report: {e}"))?;
    }
    if args.json {
        eprint!("{}", human(&doc));
        let json = serde_json::to_string(&doc).map_err(|e| format!("report: {e}"))?;
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{json}");
        let _ = stdout.flush();
    } else {
        print!("{}", human(&doc));
    }
    Ok(())
}

/// Writes `doc`'s HTML page to `out`.
pub fn write_html(out: &Path, doc: &RunDoc) -> Result<(), String> {
    std::fs::write(out, html(doc)).map_err(|e| format!("--html {}: {e}", out.display()))
}

/// `load --html`: the page of a finished run, from its JSON report.
pub fn write_html_of_json(out: &Path, report_json: &str) -> Result<(), String> {
    let doc = parse(report_json.as_bytes())?;
    write_html(out, &doc)
}
