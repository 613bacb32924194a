//! The process (issue 19, item 6): SIGHUP stops gracefully with the
//! summary (before, it killed the process mid-reply, with no summary), and
//! root is refused unless told what to do about it: give it up after
//! binding (`--user-id`), or keep it (`--allow-root`). The worker pool's
//! side (reaped pids never signalled, `getppid` after PR_SET_PDEATHSIG) is
//! tested in `src/workers/mod.rs`.

mod common;

use common::*;

/// SIGHUP, like SIGTERM: the idle connection gets EOF, the server exits 0
/// with one `shutdown complete` summary; with workers too.
#[test]
fn sighup_stops_gracefully_with_a_summary() {
    for workers in ["1", "2"] {
        let server = Server::builder()
            .only(&["greet"])
            .args(&["--workers", workers])
            .spawn();
        let mut idle = connect(server.greet());
        exchange(&mut idle, b"me\n", b"Hi me\n");
        let exit = server.stop_with(libc::SIGHUP);
        exit.assert_success();
        // One summary: the process's, or with workers the parent's total.
        let summary = match workers {
            "1" => "shutdown complete: ",
            _ => "shutdown complete (2 workers, 0 killed)",
        };
        let summaries = exit.stderr.matches(summary).count();
        assert_eq!(summaries, 1, "--workers {workers}:\n{}", exit.stderr);
        expect_closed(&mut idle);
    }
}

/// The uid line of /proc/PID/status: real, effective, saved, fs.
fn uids(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace()
        .skip(1)
        .collect::<Vec<_>>()
        .join(" ")
}

/// As root (as CI runs): plain `serve` with a listener off loopback is
/// refused with one line saying what to do (before it binds anything); on
/// loopback only (the README's first command) it serves, with a warning
/// saying the same; `--user-id 65534` binds, then serves as that user
/// (every uid of the process); `--allow-root` keeps root. Skipped as
/// another user.
#[test]
fn root_is_refused_off_loopback_warned_on_it_or_given_up_after_binding() {
    if !is_root() {
        eprintln!(
            "SKIPPED root_is_refused_off_loopback_warned_on_it_or_given_up_after_binding: not root"
        );
        return;
    }
    let exit = run_to_exit(&[
        "serve",
        "--echo",
        "0.0.0.0:0",
        "--greet",
        "off",
        "--login",
        "off",
        "--command",
        "off",
        "--udp-echo",
        "off",
        "--udp-log",
        "off",
    ]);
    assert!(!exit.status.success());
    assert_eq!(exit.stdout, "");
    for hint in [
        "refusing to serve as root with echo on 0.0.0.0:0",
        "--user-id",
        "--allow-root",
    ] {
        assert!(exit.stderr.contains(hint), "{}", exit.stderr);
    }

    let server = Server::builder().only(&["echo"]).typed_as_given().spawn();
    assert_eq!(uids(server.pid()), "0 0 0 0");
    let mut s = connect(server.echo());
    exchange(&mut s, b"as root\n", b"as root\n");
    let exit = server.terminate();
    exit.assert_success();
    for hint in [
        "serving as root on loopback only",
        "--user-id",
        "--allow-root",
    ] {
        assert!(exit.stderr.contains(hint), "{}", exit.stderr);
    }

    let server = Server::builder()
        .only(&["echo"])
        .args(&["--user-id", "65534", "--group-id", "65534"])
        .spawn();
    assert_eq!(uids(server.pid()), "65534 65534 65534 65534");
    let mut s = connect(server.echo());
    exchange(&mut s, b"as nobody\n", b"as nobody\n");
    let exit = server.terminate();
    exit.assert_success();
    assert!(
        exit.stderr.contains("root given up after binding"),
        "{}",
        exit.stderr
    );

    let server = Server::builder()
        .only(&["echo"])
        .args(&["--allow-root"])
        .spawn();
    assert_eq!(uids(server.pid()), "0 0 0 0");
}
