//! Where `serve`'s logins come from, and how they reach the workers
//! without ever being on a command line.
//!
//! `--user NAME:PASSWORD` is readable by every local user in
//! `/proc/PID/cmdline`, so it stays for tests and lessons, with a warning.
//! `--user-file PATH` holds one `NAME:PASSWORD` a line, in a file only its
//! owner may access (like ssh's keys: anything for group or others is
//! refused). A `--workers` parent reads the logins once and hands them to
//! each worker in an anonymous in-memory file ([`for_workers`]: a memfd,
//! inherited as `--user-fd N`), never in its argv.

use super::ServeArgs;
use crate::protocol::login::parse_user;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::Path;

/// The largest `--user-file`: 1 MiB is thousands of logins; anything
/// bigger is a wrong path (a log, a disk image), not a list of users.
pub const MAX_USER_FILE: u64 = 1 << 20;

/// The `NAME:PASSWORD` values the flags give, or `None` for the default
/// `admin:12345`: from `--user` (repeated), `--user-file`, or the
/// descriptor a worker parent passed (`--user-fd`). At most one of them.
pub fn specs(args: &ServeArgs) -> Result<Option<Vec<String>>, String> {
    let given = [
        !args.users.is_empty(),
        args.user_file.is_some(),
        args.user_fd.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err("give the logins with --user or --user-file, not both".into());
    }
    if let Some(path) = &args.user_file {
        return read_user_file(path).map(Some);
    }
    if let Some(fd) = args.user_fd {
        return read_inherited(fd).map(Some);
    }
    Ok((!args.users.is_empty()).then(|| args.users.clone()))
}

/// The warning `--user` earns (the parent's or the single process's).
pub fn warn_about_argv(args: &ServeArgs) {
    if !args.users.is_empty() {
        log::warn!(
            "--user puts passwords on the command line, where every local user can read \
             them (/proc/PID/cmdline); use --user-file PATH"
        );
    }
}

/// Reads `--user-file`, refusing one that group or others may access.
fn read_user_file(path: &Path) -> Result<Vec<String>, String> {
    let shown = path.display();
    let file = File::open(path).map_err(|e| format!("--user-file {shown}: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("--user-file {shown}: {e}"))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "--user-file {shown}: group or others may access it (mode {mode:03o}); \
             run chmod 600 {shown}"
        ));
    }
    if meta.len() > MAX_USER_FILE {
        return Err(format!("--user-file {shown}: over {MAX_USER_FILE} bytes"));
    }
    let text = read_all(&file).map_err(|e| format!("--user-file {shown}: {e}"))?;
    parse_lines(&text).map_err(|e| format!("--user-file {shown}: {e}"))
}

/// Reads the logins a worker parent left in descriptor `fd`.
fn read_inherited(fd: RawFd) -> Result<Vec<String>, String> {
    // SAFETY: `fd` was named on our command line by the worker parent,
    // which opened it for us; nothing else in this process uses it, and it
    // is closed when `file` is dropped below.
    let file = unsafe { File::from_raw_fd(fd) };
    let text = read_all(&file).map_err(|e| format!("--user-fd {fd}: {e}"))?;
    parse_lines(&text).map_err(|e| format!("--user-fd {fd}: {e}"))
}

/// The whole file from offset 0 with `pread`: every worker shares the
/// parent's memfd (one file offset for all), so `read` would leave the
/// next worker, or a restarted one, at its end.
fn read_all(file: &File) -> io::Result<String> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = file.read_at(&mut chunk, bytes.len() as u64)?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..n]);
        if bytes.len() as u64 > MAX_USER_FILE {
            return Err(io::Error::other(format!("over {MAX_USER_FILE} bytes")));
        }
    }
    String::from_utf8(bytes).map_err(|_| io::Error::other("not UTF-8 text"))
}

/// One `NAME:PASSWORD` a line; blank lines and `#` comments skipped. An
/// error names the line by number, never by its content (a password).
fn parse_lines(text: &str) -> Result<Vec<String>, String> {
    let mut specs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        parse_user(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        specs.push(line.to_owned());
    }
    if specs.is_empty() {
        return Err("no NAME:PASSWORD line".into());
    }
    Ok(specs)
}

/// The logins for the workers: an anonymous in-memory file (memfd, opened
/// close-on-exec; the parent clears that for each worker it starts) holding
/// `specs` one a line. The parent keeps it for restarts.
pub fn for_workers(specs: &[String]) -> io::Result<OwnedFd> {
    // SAFETY: memfd_create(2) with a NUL-terminated name and known flags;
    // the descriptor it returns is owned by the OwnedFd from here on.
    let fd = unsafe { libc::memfd_create(c"sockloop-users".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = File::from(owned);
    for spec in specs {
        writeln!(file, "{spec}")?;
    }
    Ok(OwnedFd::from(file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn lines_skip_blanks_and_comments_and_errors_hide_the_content() {
        let text = "# users\n\n bob : pw \nann:x:y\n";
        assert_eq!(parse_lines(text).unwrap(), [" bob : pw ", "ann:x:y"]);
        let error = parse_lines("bob:pw\ns3cret\n").unwrap_err();
        assert!(error.contains("line 2"), "{error}");
        assert!(!error.contains("s3cret"), "{error}");
        assert!(parse_lines("# nothing\n").is_err());
    }

    #[test]
    fn a_user_file_open_to_group_or_others_is_refused() {
        let path = std::env::temp_dir().join(format!("sockloop-users-{}", std::process::id()));
        std::fs::write(&path, "bob:pw\n").unwrap();
        for (mode, ok) in [(0o600, true), (0o400, true), (0o640, false), (0o604, false)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let got = read_user_file(&path);
            assert_eq!(got.is_ok(), ok, "mode {mode:o}: {got:?}");
            if let Err(e) = got {
                assert!(e.contains("chmod 600"), "{e}");
            }
        }
        std::fs::remove_file(&path).unwrap();
    }

    /// Each reader starts at offset 0 whatever the others did: a
    /// restarted worker reads the same logins as the first.
    #[test]
    fn the_workers_memfd_reads_the_same_for_every_worker() {
        let specs = vec!["bob:pw".to_owned(), "ann:x".to_owned()];
        let fd = for_workers(&specs).unwrap();
        let file = File::from(fd.try_clone().unwrap());
        assert_eq!(read_all(&file).unwrap(), "bob:pw\nann:x\n");
        assert_eq!(read_all(&file).unwrap(), "bob:pw\nann:x\n");
        assert!(fd.as_raw_fd() > 2);
    }
}
