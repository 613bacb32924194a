//! The `sockloop` binary: the library's command line, with logging set up
//! once the flags say whether this process is a worker.
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match sockloop::cli::parse_args() {
        Ok(cli) => cli,
        Err(status) => return status,
    };
    // Logs go to stderr; stdout carries only the `listening` lines (serve),
    // replies (client) or the JSON report (load).
    let mut logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if let Some(index) = cli.worker_index() {
        // Several workers share one stderr: tag each line with its worker.
        logger.format(move |buf, record| {
            writeln!(
                buf,
                "[{} {:5} w{index} {}] {}",
                buf.timestamp(),
                record.level(),
                record.target(),
                record.args()
            )
        });
    }
    // Every line goes through a bounded queue to a writer thread: the event
    // loop never blocks on a slow stderr (`log_queue`). A terminal keeps
    // its colours (a pipe target would otherwise turn them off).
    match sockloop::log_queue::writer() {
        Ok(queue) => {
            logger.target(env_logger::Target::Pipe(Box::new(queue)));
            if std::io::stderr().is_terminal() && std::env::var_os("RUST_LOG_STYLE").is_none() {
                logger.write_style(env_logger::WriteStyle::Always);
            }
        }
        Err(e) => eprintln!("sockloop: logging synchronously (no log writer thread: {e})"),
    }
    logger.init();
    let status = sockloop::cli::run(cli);
    // The last lines (the shutdown summary) are written before exiting.
    sockloop::log_queue::flush();
    status
}
