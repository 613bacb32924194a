//! The `sockloop` binary: logging setup, then the library's command line.
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Logs go to stderr; stdout carries only the `listening` lines (serve),
    // replies (client) or the JSON report (load).
    let mut logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if let Some(index) = sockloop::workers::worker_index() {
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
    logger.init();
    match sockloop::cli::parse_args() {
        Ok(cli) => sockloop::cli::run(cli),
        Err(status) => status,
    }
}
