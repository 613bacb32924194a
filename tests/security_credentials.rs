//! Credentials (issue 19, item 5). Before: `--user alice:PASSWORD` sat in
//! every worker's `/proc/PID/cmdline`; `--user bob:` and an explicit
//! `--user admin:12345` started on 0.0.0.0; a password retyped where the
//! user name goes was traced. Now logins come from a file only its owner
//! may read (or `--user`, with a warning), reach workers through an
//! inherited in-memory file, weak pairs are refused off loopback whoever
//! typed them, and a user line is traced by its length only.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// A file of logins with `mode`, removed when dropped.
struct UserFile(PathBuf);

impl UserFile {
    fn new(name: &str, text: &str, mode: u32) -> UserFile {
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("users-{name}-{}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        UserFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for UserFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// An empty password and the tutorial's pair are refused on a public login
/// listener even when typed explicitly (before, both started).
#[test]
fn weak_pairs_are_refused_off_loopback_whoever_typed_them() {
    for (user, why) in [
        ("bob:", "an empty password"),
        ("admin:12345", "the well-known default password"),
    ] {
        let exit = Server::builder()
            .service("login", "0.0.0.0:0")
            .args(&["--user", user])
            .run_to_exit();
        assert!(!exit.status.success(), "{user}: {}", exit.stderr);
        assert!(exit.stderr.contains(why), "{user}: {}", exit.stderr);
    }
}

/// `--user-file` is refused while group or others may read it; at mode 600
/// its logins work, comments and blank lines ignored.
#[test]
fn a_user_file_must_be_private_and_then_works() {
    let open = UserFile::new("open", "bob:pw-1\n", 0o644);
    let exit = Server::builder()
        .args(&["--user-file", open.path()])
        .run_to_exit();
    assert!(!exit.status.success());
    assert!(exit.stderr.contains("chmod 600"), "{}", exit.stderr);

    let private = UserFile::new("private", "# logins\n\nbob:pw-1\n", 0o600);
    let server = Server::builder()
        .only(&["login"])
        .args(&["--user-file", private.path()])
        .spawn();
    let mut s = connect(server.login());
    send(&mut s, b"bob\n");
    exchange(&mut s, b"pw-1\n", b"hello bob, welcome to the server\n");
}

/// The command line of a process, as any local user can read it.
fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// With workers, no password reaches a worker's command line: from a user
/// file, or from `--user` (which the parent still has, with a warning).
/// Both workers log the user in.
#[test]
fn workers_get_the_logins_without_a_command_line() {
    let file = UserFile::new("workers", "ann:file-SECRET\n", 0o600);
    for (flag, value, user, password) in [
        ("--user-file", file.path(), "ann", "file-SECRET"),
        ("--user", "bob:argv-SECRET", "bob", "argv-SECRET"),
    ] {
        let server = Server::builder()
            .only(&["login"])
            .args(&["--workers", "2", flag, value])
            .spawn();
        let workers = children_of(server.pid());
        assert_eq!(workers.len(), 2, "{workers:?}");
        for pid in workers {
            let argv = cmdline(pid);
            assert!(argv.contains("--user-fd="), "{argv}");
            assert!(!argv.contains("SECRET"), "a password in {argv}");
        }
        // Several connections: the kernel spreads them over both workers.
        for _ in 0..4 {
            let mut s = connect(server.login());
            send(&mut s, format!("{user}\n").as_bytes());
            let welcome = format!("hello {user}, welcome to the server\n");
            exchange(
                &mut s,
                format!("{password}\n").as_bytes(),
                welcome.as_bytes(),
            );
        }
        let exit = server.terminate();
        let warned = exit
            .stderr
            .contains("--user puts passwords on the command line");
        assert_eq!(warned, flag == "--user", "{}", exit.stderr);
    }
}

/// A client that retypes its password where the user name goes (after a
/// failure) does not get it traced: the state shows only its length.
#[test]
fn a_password_typed_as_a_user_name_is_not_traced() {
    let server = Server::builder().only(&["login"]).log("trace").spawn();
    let mut s = connect(server.login());
    send(&mut s, b"pw-SECRET-typed-here\n");
    exchange(&mut s, b"again\n", b"ERR invalid credentials\n");
    let exit = server.terminate();
    assert!(
        exit.stderr.contains("AwaitPassword { user: 20 bytes }"),
        "{}",
        exit.stderr
    );
    assert!(!exit.stderr.contains("SECRET"), "{}", exit.stderr);
}
