//! `sockloop load`: the load generator (see issue 3). Placeholder.

use clap::Args;
use std::process::ExitCode;

/// `sockloop load` flags.
#[derive(Debug, Args)]
pub struct LoadArgs {}

/// Runs the generator.
pub fn run(_args: &LoadArgs) -> ExitCode {
    crate::cli::fail("load: not built yet")
}
