//! `sockloop serve`: one process, or a supervisor of `--workers N`.
//!
//! One process ([`run`]): bind, print the `listening` lines, run the loop.
//! With `--workers N > 1` this process becomes the parent (`parent.rs`,
//! process handling in [`crate::workers`]): it binds every worker's sockets
//! ([`bind_for_workers`]) and each worker runs the one-process path on the
//! sockets it inherited (`--listen-fd`), started with the parent's own
//! flags and its sockets' (`worker_flags.rs`). The flags are `args.rs`'s;
//! where the logins come from (never a worker's argv) is `credentials.rs`'s,
//! and running as root (refused, or given up after binding)
//! `privileges.rs`'s.

mod args;
mod credentials;
mod parent;
mod privileges;
mod worker_flags;

pub use args::{ServeArgs, parse_listen_fd};
pub use parent::{bind_for_workers, parse_listening};

use crate::error::Error;
use crate::flags::show_secs;
use crate::server::Server;
use crate::workers::EXIT_REMOTE_SHUTDOWN;
use std::io::Write;
use std::process::ExitCode;

/// Runs `serve` with the given flags; the exit status: 0, or, for a
/// worker stopped by a remote shutdown, [`EXIT_REMOTE_SHUTDOWN`] (which
/// tells its parent to stop every worker).
pub fn run(args: &ServeArgs) -> Result<ExitCode, Error> {
    let (old, soft, hard) = crate::limits::raise_nofile();
    log::info!("open-file limit: soft {old} -> {soft}, hard {hard}");
    if args.workers > 1 {
        return parent::supervise(args).map(|()| ExitCode::SUCCESS);
    }
    let mut config = args.to_config()?;
    config.validate().map_err(|e| e.to_string())?;
    privileges::check_root(args, &config)?;
    credentials::warn_about_argv(args);
    config.reuse_port = args.reuse_port;
    log::info!(
        "max-conns {}, max-line {}, idle-timeout {}",
        config.max_conns,
        config.max_line,
        config.idle_timeout.map_or("never".to_owned(), show_secs)
    );
    let server = if args.listen_fds.is_empty() {
        Server::bind(config)
    } else {
        Server::adopt(config, &args.listen_fds)
    };
    let server = server.map_err(|e| e.to_string())?;
    privileges::drop_privileges(args)?;
    let mut stdout = std::io::stdout().lock();
    for (service, addr) in server.listening() {
        // The exact format tests, scripts and the worker parent wait for.
        let _ = writeln!(stdout, "listening {} {} {}", service, service.proto(), addr);
    }
    let _ = stdout.flush();
    drop(stdout);
    let stats = server
        .run()
        .map_err(|e| format!("event loop failed: {e}"))?;
    if args.report_stats {
        // For the worker parent: one machine-readable line at exit.
        if let Ok(json) = serde_json::to_string(&stats) {
            println!("stats {json}");
        }
    }
    if args.worker_index.is_some() && stats.remote_shutdowns > 0 {
        return Ok(ExitCode::from(EXIT_REMOTE_SHUTDOWN));
    }
    Ok(ExitCode::SUCCESS)
}
