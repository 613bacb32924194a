//! Running as root: no default port needs it. A root server that anything
//! off this machine can reach is refused unless told what to do:
//! `--user-id UID [--group-id GID]` gives root up once every socket is
//! bound, `--allow-root` keeps it. On loopback only (the defaults), it
//! starts with a warning saying the same: a new user's first box is often
//! a root shell, and the README's first command must work there.
//!
//! Giving up is the classic order (OpenSSH's privilege separation, nginx's
//! workers): supplementary groups dropped, then the group, then the user;
//! then a check that root cannot be taken back. A worker of a parent that
//! already gave root up finds itself that user: nothing left to do.

use super::ServeArgs;
use crate::config::ServeConfig;
use std::io;

/// Whether this process may go on as root: yes when not root, or with
/// `--allow-root` or `--user-id`; with every listener on loopback, yes with
/// a warning; otherwise refused. The message says what to do either way.
pub fn check_root(args: &ServeArgs, config: &ServeConfig) -> Result<(), String> {
    // SAFETY: geteuid(2) cannot fail and has no side effect.
    let root = unsafe { libc::geteuid() } == 0;
    if !root || args.allow_root || args.user_id.is_some() {
        return Ok(());
    }
    const WHAT_TO_DO: &str = "run as an ordinary user, or add --user-id UID [--group-id GID] \
                              to give root up once the ports are bound, or --allow-root to keep it";
    match config
        .listeners
        .iter()
        .find(|(_, addr)| !addr.ip().is_loopback())
    {
        None => {
            log::warn!(
                "serving as root on loopback only: no default port needs root; {WHAT_TO_DO}"
            );
            Ok(())
        }
        Some((service, addr)) => Err(format!(
            "refusing to serve as root with {service} on {addr}, off loopback: \
             no default port needs root; {WHAT_TO_DO}"
        )),
    }
}

/// After binding: becomes `--user-id`/`--group-id` (the group defaults to
/// the user's number), if given. Not root and already that user: nothing to
/// do (a worker whose parent did it). Not root and another user: an error.
pub fn drop_privileges(args: &ServeArgs) -> Result<(), String> {
    let Some(uid) = args.user_id else {
        if args.group_id.is_some() {
            return Err("--group-id needs --user-id".into());
        }
        return Ok(());
    };
    let gid = args.group_id.unwrap_or(uid);
    // SAFETY: these get*id(2) calls cannot fail and have no side effect.
    let (euid, ruid, rgid) = unsafe { (libc::geteuid(), libc::getuid(), libc::getgid()) };
    if euid != 0 {
        if (ruid, euid, rgid) == (uid, uid, gid) {
            return Ok(());
        }
        return Err(format!("--user-id {uid}: only root can switch users"));
    }
    become_user(uid, gid).map_err(|e| format!("cannot switch to user {uid}, group {gid}: {e}"))?;
    log::info!("serving as user {uid}, group {gid} (root given up after binding)");
    Ok(())
}

/// setgroups, setgid, setuid, in that order (after setuid, the others are
/// no longer allowed), then proves root is gone for good.
fn become_user(uid: libc::uid_t, gid: libc::gid_t) -> io::Result<()> {
    let check = |rc: libc::c_int| {
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    // SAFETY: plain credential syscalls with integer arguments; setgroups
    // reads no memory for a count of 0.
    unsafe {
        check(libc::setgroups(0, std::ptr::null()))?;
        check(libc::setresgid(gid, gid, gid))?;
        check(libc::setresuid(uid, uid, uid))?;
        if uid != 0 && libc::setuid(0) == 0 {
            return Err(io::Error::other("root could be taken back"));
        }
    }
    Ok(())
}
