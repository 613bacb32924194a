//! The load-shape flags' rules (`--stages`, `--find-max-rate` and its
//! flags), for [`LoadConfig::from_args`](super::LoadConfig::from_args), and
//! their defaults.

use super::LoadArgs;
use crate::load::search::Slo;
use crate::load::stages::Stages;

/// Default `--search-steps`: doubling from 100/s reaches 100,000/s in 11
/// steps, and a bracket narrows to 5% in about 5 more; 12 keeps a search
/// near a minute at the default step length.
pub const SEARCH_STEPS: u64 = 12;

/// Default `--search-from` (total requests per second).
pub const SEARCH_FROM: f64 = 100.0;

/// Default `--step-duration`: long enough for 1,000 samples at 200/s, so a
/// step's p99.9 is given.
pub const STEP_SECS: f64 = 5.0;

/// Longest `--step-duration`: ten minutes (a search is at most
/// [`MAX_STEPS`](crate::load::search::MAX_STEPS) of them).
pub const MAX_STEP_SECS: f64 = 600.0;

/// `--find-max-rate` and its flags.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchConfig {
    /// The objective.
    pub slo: Slo,
    /// Most steps.
    pub steps: u64,
    /// The first step's total rate.
    pub from: f64,
}

/// `--find-max-rate` needs `--slo`, and its flags need it; one process
/// only (each step's rate is decided from the last step's result, which
/// workers would have to agree on).
pub(super) fn check_search(a: &LoadArgs) -> Result<Option<SearchConfig>, String> {
    let given = [
        ("--slo", a.slo.is_some()),
        ("--search-steps", a.search_steps.is_some()),
        ("--search-from", a.search_from.is_some()),
        ("--step-duration", a.step_duration.is_some()),
    ];
    if !a.find_max_rate {
        return match given.iter().find(|(_, g)| *g) {
            Some((flag, _)) => Err(format!("{flag} needs --find-max-rate")),
            None => Ok(None),
        };
    }
    let Some(slo) = a.slo else {
        return Err("--find-max-rate needs an objective, e.g. --slo p99=5ms".into());
    };
    if a.workers > 1 {
        return Err(
            "--find-max-rate runs in one process (each step's rate follows from the last \
             step's result); leave out --workers"
                .into(),
        );
    }
    Ok(Some(SearchConfig {
        slo,
        steps: a.search_steps.unwrap_or(SEARCH_STEPS),
        from: a.search_from.unwrap_or(SEARCH_FROM),
    }))
}

/// `--idle --stages`: the targets are open connections, whole numbers up to
/// `--conns` (the table is sized for `--conns`).
pub(super) fn check_idle_stages(stages: &Stages, conns: usize) -> Result<(), String> {
    for (i, s) in stages.0.iter().enumerate() {
        if s.target.fract() != 0.0 || s.target > conns as f64 {
            return Err(format!(
                "--stages with --idle: stage {} targets {} connections; targets are \
                 whole numbers of connections up to --conns ({conns})",
                i + 1,
                s.target
            ));
        }
    }
    Ok(())
}
