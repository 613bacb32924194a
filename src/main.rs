//! The `sockloop` binary: the library's command line, with logging set up
//! once the flags say whether this process is a worker.
use std::io::Write;
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
    logger.init();
    sockloop::cli::run(cli)
}
