//! The command line of a `serve` worker: the parent's own flags as it was
//! given them ([`crate::workers::worker_command_line`]), with the worker's
//! own sockets, index and `--report-stats` in place of what differs per
//! worker. The test below gives every `serve` flag a value and checks that
//! a worker parses the same settings back.

use super::ServeArgs;
use crate::flags::Endpoint;
use crate::protocol::Service;
use crate::workers::worker_command_line;
use clap::{Args, Command};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::os::fd::RawFd;

/// The flags a worker does not take from the parent as given, besides one
/// per service (each becomes the address of the worker's own socket: port
/// 0 resolved, the metrics endpoint at PORT+N): `--workers` (a worker is
/// one process), the flags only a parent sets, and the logins: they reach
/// a worker through an inherited descriptor (`--user-fd`), never its argv,
/// where every local user could read them.
const NOT_PASSED: [&str; 7] = [
    "workers",
    "listen-fd",
    "worker-index",
    "report-stats",
    "user",
    "user-file",
    "user-fd",
];

/// A socket worker N inherits: its service, the address it is bound to, and
/// its descriptor.
pub(super) type OwnSocket = (Service, SocketAddr, RawFd);

/// The arguments of worker `index`, which serves on `own` with the logins
/// in descriptor `users` (if not the default), given the parent's own flags
/// (`parent_flags`: its arguments after `serve`).
pub(super) fn worker_args(
    parent_flags: &[OsString],
    own: &[OwnSocket],
    users: Option<RawFd>,
    index: usize,
) -> Result<Vec<OsString>, String> {
    let mut replaced = NOT_PASSED.to_vec();
    replaced.extend(Service::ALL.map(Service::name));
    let mut worker: Vec<OsString> = Vec::new();
    for service in Service::ALL {
        let mine = own.iter().find(|(s, _, _)| *s == service);
        if let Some((_, _, fd)) = mine {
            worker.push(format!("--listen-fd={service}={fd}").into());
        }
        let addr = Endpoint(mine.map(|(_, addr, _)| *addr));
        worker.push(format!("--{service}={addr}").into());
    }
    if let Some(fd) = users {
        worker.push(format!("--user-fd={fd}").into());
    }
    worker.push(format!("--worker-index={index}").into());
    worker.push("--report-stats".into());
    let flags = ServeArgs::augment_args(Command::new("serve"));
    worker_command_line(flags, parent_flags, &replaced, worker)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workers::testing;
    use clap::ArgAction;

    /// A value other than its default for every `serve` flag, by long name
    /// (no values: a switch). A flag added to `ServeArgs` without a sample
    /// here fails `every_serve_flag_reaches_a_worker`.
    const SAMPLES: &[(&str, &[&str])] = &[
        ("echo", &["127.0.0.1:17000"]),
        ("greet", &["127.0.0.1:0"]),
        ("login", &["off"]),
        ("command", &["[::1]:17003"]),
        ("udp-echo", &["127.0.0.1:17000"]),
        ("udp-log", &["off"]),
        ("metrics", &["127.0.0.1:19100"]),
        ("stats-interval", &["2.5"]),
        ("max-conns", &["77"]),
        ("max-line", &["100"]),
        ("idle-timeout", &["0.25"]),
        ("send-timeout", &["1.5"]),
        ("output-budget", &["1048576"]),
        ("user", &["ann:pw1", " bob : -pw2"]),
        ("udp-buffer", &["65536"]),
        ("user-file", &["/etc/sockloop-users"]),
        ("allow-remote-shutdown", &[]),
        ("allow-root", &[]),
        ("user-id", &["65534"]),
        ("group-id", &["65533"]),
        ("user-fd", &["45"]),
        ("workers", &["3"]),
        ("reuse-port", &[]),
        ("report-stats", &[]),
        ("worker-index", &["9"]),
        ("listen-fd", &["echo=40"]),
    ];

    /// `--NAME VALUE` for each sample value.
    fn flags_of(samples: &[(&str, &[&str])]) -> Vec<OsString> {
        testing::flags_of(samples, "")
    }

    /// The flags as `sockloop serve` parses them.
    #[track_caller]
    fn parse(flags: &[OsString]) -> ServeArgs {
        testing::parse("serve", flags)
    }

    #[test]
    fn every_serve_flag_has_a_sample_that_is_not_its_default() {
        let defaults = parse(&[]);
        for arg in ServeArgs::augment_args(Command::new("serve")).get_arguments() {
            if matches!(arg.get_action(), ArgAction::Help | ArgAction::Version) {
                continue;
            }
            let long = arg.get_long().expect("every serve flag has a long name");
            let sample = SAMPLES.iter().find(|(name, _)| *name == long);
            let sample = sample.unwrap_or_else(|| {
                panic!("--{long} has no sample in SAMPLES: add one, and see that workers get it")
            });
            assert_ne!(parse(&flags_of(&[*sample])), defaults, "--{long}'s sample");
        }
    }

    /// A worker parses the parent's settings back, every flag's sample
    /// included, with its own sockets, index and `--report-stats` instead
    /// of the parent's.
    #[test]
    fn every_serve_flag_reaches_a_worker() {
        let parent_flags = flags_of(SAMPLES);
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        // The parent's listeners, bound: greet's port 0 resolved, worker
        // 2's metrics endpoint at PORT+2; login and udp-log are off.
        let own = [
            (Service::Echo, addr("127.0.0.1:17000"), 40),
            (Service::Greet, addr("127.0.0.1:41234"), 41),
            (Service::Command, addr("[::1]:17003"), 42),
            (Service::UdpEcho, addr("127.0.0.1:17000"), 43),
            (Service::Metrics, addr("127.0.0.1:19102"), 44),
        ];
        let worker = worker_args(&parent_flags, &own, Some(46), 2).unwrap();
        assert_eq!(worker[0], "serve");

        let mut expected = parse(&parent_flags);
        expected.echo = Endpoint(Some(own[0].1));
        expected.greet = Endpoint(Some(own[1].1));
        expected.command = Endpoint(Some(own[2].1));
        expected.udp_echo = Endpoint(Some(own[3].1));
        expected.metrics = Endpoint(Some(own[4].1));
        expected.listen_fds = own.iter().map(|(s, _, fd)| (*s, *fd)).collect();
        expected.workers = 1;
        // The logins come through the inherited descriptor, never argv.
        expected.users = Vec::new();
        expected.user_file = None;
        expected.user_fd = Some(46);
        expected.worker_index = Some(2);
        expected.report_stats = true;
        assert_eq!(parse(&worker[1..]), expected, "{worker:?}");
        let argv = format!("{worker:?}");
        assert!(!argv.contains("pw1") && !argv.contains("-pw2"), "{argv}");
    }
}
