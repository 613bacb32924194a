//! Remote shutdown (issue 19, item 1): one unauthenticated line must not
//! stop the server. `E` stops it only in a logged-in login session, from a
//! loopback peer, with `--allow-remote-shutdown`, which is refused while
//! login or command listens off loopback; with workers, only a remote
//! shutdown stops them all, never one worker's clean exit.

mod common;

use common::*;
use std::time::{Duration, Instant};

/// The attack of the report: `--workers 2 --command 0.0.0.0:P --user
/// bob:hunter2 --allow-remote-shutdown`, then `E` from anywhere, stopped
/// every port. Now that command line is refused at startup, before
/// anything is bound.
#[test]
fn allow_remote_shutdown_is_refused_with_command_or_login_off_loopback() {
    for service in ["command", "login"] {
        let exit = Server::builder()
            .service(service, "0.0.0.0:0")
            .args(&[
                "--workers",
                "2",
                "--user",
                "bob:hunter2",
                "--allow-remote-shutdown",
            ])
            .run_to_exit();
        assert!(!exit.status.success(), "{}", exit.stderr);
        assert_eq!(exit.stdout, "");
        assert!(
            exit.stderr.contains("--allow-remote-shutdown is refused")
                && exit
                    .stderr
                    .contains(&format!("{service} listens on non-loopback")),
            "{}",
            exit.stderr
        );
    }
}

/// `E` on the command service, where nobody logged in, closes only its
/// connection even with `--allow-remote-shutdown`: the server serves on.
#[test]
fn e_on_the_command_service_never_stops_the_server() {
    let mut server = Server::builder().args(&["--allow-remote-shutdown"]).spawn();
    for request in [&b"E\n"[..], b" e \r\n"] {
        let mut s = connect(server.command());
        exchange(&mut s, request, b"BYE\n");
        expect_closed(&mut s);
    }
    server.assert_serving(DEFAULT_LOGIN);
    assert!(server.is_running());
    let exit = server.terminate();
    exit.assert_success();
    assert!(!exit.stderr.contains("remote shutdown"), "{}", exit.stderr);
}

/// Waits (up to IO_TIMEOUT) until `parent` has `n` children other than
/// `gone`; returns them.
#[track_caller]
fn wait_for_workers(parent: u32, n: usize, gone: u32) -> Vec<u32> {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let kids = children_of(parent);
        if kids.len() == n && !kids.contains(&gone) {
            return kids;
        }
        assert!(Instant::now() < deadline, "workers of {parent}: {kids:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// With workers, a worker that exits 0 on its own (here: a SIGTERM sent to
/// it alone) is restarted and the others serve on; before, any clean exit
/// of one worker stopped them all. A remote shutdown (its own exit status)
/// still stops every worker and the parent.
#[test]
fn one_workers_clean_exit_does_not_stop_the_others_a_remote_shutdown_does() {
    let mut server = Server::builder()
        .only(&["echo", "login"])
        .args(&["--workers", "2", "--allow-remote-shutdown"])
        .spawn();
    let parent = server.pid();
    let workers = wait_for_workers(parent, 2, 0);
    // SAFETY: kill(2) on a child of our own child, alive (just listed).
    assert_eq!(unsafe { libc::kill(workers[0] as i32, libc::SIGTERM) }, 0);
    wait_for_workers(parent, 2, workers[0]);
    assert!(server.is_running(), "the parent stopped");
    server.assert_serving(DEFAULT_LOGIN);

    let mut s = connect(server.login());
    send(&mut s, b"admin\n12345\nE\n");
    expect_line(&mut s, b"hello admin, welcome to the server\n");
    expect_line(&mut s, b"BYE\n");
    let exit = server.wait_exit();
    exit.assert_success();
    for line in [
        "exited (exit status: 0); restarting it",
        "stopped for a remote shutdown: stopping all workers",
        "remote shutdown requested by 127.0.0.1 port",
    ] {
        assert!(
            exit.stderr.contains(line),
            "no {line:?} in:\n{}",
            exit.stderr
        );
    }
}
