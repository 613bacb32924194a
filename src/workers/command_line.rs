//! A worker's command line, derived once from the parent's own.
//!
//! A worker runs the parent's subcommand with the parent's settings, so its
//! command line is the parent's flags passed through as they were given,
//! minus the few a worker must not take as they are (`--workers`, and what
//! differs per worker: its sockets, its share, its index), plus the worker's
//! values for those. clap reads the parent's flags (so `-c5`, `--echo=A`
//! and `--echo A` are all understood) and names every flag the subcommand
//! has: a flag added to `serve` or `load` reaches the workers with no line
//! written for it. The tests beside each caller (`serve/parent.rs`,
//! `load/workers.rs`) give every flag a value and check that the worker
//! parses the same settings back.

use clap::parser::ValueSource;
use clap::{ArgAction, Command};
use std::ffi::OsString;

/// This process's flags: its arguments after the subcommand. sockloop
/// takes no flag before the subcommand (`sockloop serve --echo ...`), so
/// they start at the third argument.
pub fn own_flags() -> Vec<OsString> {
    std::env::args_os().skip(2).collect()
}

/// The arguments of a worker (after the program name): the subcommand
/// `flags` describes (`ServeArgs::augment_args(Command::new("serve"))`),
/// every flag of `parent_flags` the parent was given on its command line
/// except those whose long name is in `replaced`, each as `--NAME=VALUE`
/// (`=`, so that a value starting with `-` stays a value), then
/// `worker_flags`.
///
/// A flag left at its default is not passed: the worker's default is the
/// same. An error if `parent_flags` do not parse (they did once, in this
/// process) or a flag cannot be passed on (no long name, or an action other
/// than taking values or `SetTrue`): a flag sockloop does not have today,
/// which the callers' tests would meet first.
pub fn worker_command_line(
    flags: Command,
    parent_flags: &[OsString],
    replaced: &[&str],
    worker_flags: Vec<OsString>,
) -> Result<Vec<OsString>, String> {
    let subcommand = OsString::from(flags.get_name());
    let given = std::iter::once(subcommand.clone()).chain(parent_flags.iter().cloned());
    let matches = flags
        .clone()
        .try_get_matches_from(given)
        .map_err(|e| format!("the parent's flags do not parse again: {e}"))?;
    let mut out = vec![subcommand];
    for arg in flags.get_arguments() {
        let id = arg.get_id().as_str();
        if matches.value_source(id) != Some(ValueSource::CommandLine) {
            continue;
        }
        let long = arg
            .get_long()
            .ok_or_else(|| format!("{id}: a flag without a long name cannot be passed on"))?;
        if replaced.contains(&long) {
            continue;
        }
        let action = arg.get_action();
        if action.takes_values() {
            // Every occurrence, in order (`--user` repeats).
            for value in matches.get_raw(id).into_iter().flatten() {
                let mut flag = OsString::from(format!("--{long}="));
                flag.push(value);
                out.push(flag);
            }
        } else if matches!(action, ArgAction::SetTrue) {
            out.push(format!("--{long}").into());
        } else {
            return Err(format!("--{long}: a {action:?} flag cannot be passed on"));
        }
    }
    out.extend(worker_flags);
    Ok(out)
}

/// Helpers for the callers' "every flag reaches a worker" tests
/// (`serve/worker_flags.rs`, `load/workers.rs`): sample flags in, a parsed
/// subcommand out.
#[cfg(test)]
pub(crate) mod testing {
    use clap::{Args, Command, FromArgMatches};
    use std::ffi::OsString;

    /// `--NAME VALUE` for each sample value (`--NAME` for a switch, given
    /// as no values), but for the flag `left_out`.
    pub fn flags_of(samples: &[(&str, &[&str])], left_out: &str) -> Vec<OsString> {
        let mut out = Vec::new();
        for (long, values) in samples.iter().filter(|(long, _)| *long != left_out) {
            if values.is_empty() {
                out.push(format!("--{long}").into());
            }
            for value in *values {
                out.extend([format!("--{long}").into(), OsString::from(value)]);
            }
        }
        out
    }

    /// `flags` as `sockloop SUBCOMMAND` parses them.
    #[track_caller]
    pub fn parse<T: Args + FromArgMatches>(subcommand: &'static str, flags: &[OsString]) -> T {
        let argv = std::iter::once(OsString::from(subcommand)).chain(flags.iter().cloned());
        let command = T::augment_args(Command::new(subcommand));
        let matches = command.try_get_matches_from(argv).expect("flags parse");
        T::from_arg_matches(&matches).expect("flags parse")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Arg;

    /// A subcommand with one flag of each kind sockloop uses.
    fn demo() -> Command {
        Command::new("demo")
            .arg(
                Arg::new("conns")
                    .short('c')
                    .long("conns")
                    .default_value("10"),
            )
            .arg(Arg::new("user").long("user").action(ArgAction::Append))
            .arg(Arg::new("idle").long("idle").action(ArgAction::SetTrue))
            .arg(Arg::new("workers").long("workers").default_value("1"))
    }

    fn strings(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[track_caller]
    fn derive(parent: &[&str], replaced: &[&str], worker: &[&str]) -> Vec<OsString> {
        worker_command_line(demo(), &strings(parent), replaced, strings(worker)).unwrap()
    }

    #[test]
    fn flags_pass_through_in_every_spelling_defaults_stay_behind() {
        assert_eq!(
            derive(&["-c5", "--user", "a:b", "--user=-c:d", "--idle"], &[], &[]),
            strings(&["demo", "--conns=5", "--user=a:b", "--user=-c:d", "--idle"])
        );
        assert_eq!(derive(&[], &[], &[]), strings(&["demo"]));
    }

    #[test]
    fn replaced_flags_give_way_to_the_workers_own() {
        assert_eq!(
            derive(
                &["--workers", "4", "-c", "8", "--idle"],
                &["workers", "conns"],
                &["--conns=2", "--report"]
            ),
            strings(&["demo", "--idle", "--conns=2", "--report"])
        );
    }

    #[test]
    fn flags_that_cannot_be_passed_on_are_errors() {
        let counted = Command::new("demo").arg(Arg::new("v").long("v").action(ArgAction::Count));
        let error = worker_command_line(counted, &strings(&["--v"]), &[], Vec::new());
        assert!(error.unwrap_err().contains("--v"));
        let bad = worker_command_line(demo(), &strings(&["--nope"]), &[], Vec::new());
        assert!(bad.is_err());
    }
}
