//! carebot's entry point: parse the command line, set up logging, run the command.

use clap::Parser;

fn main() {
    let cli = carebot::cli::Cli::parse();
    carebot::telemetry::init_as("carebot=info,serenity=warn,warn", cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(async {
        match carebot::cli::run(cli).await {
            Ok(code) => code,
            Err(e) => {
                tracing::debug!(error = ?e, "command failed");
                eprintln!("error: {e:#}");
                1
            }
        }
    });
    std::process::exit(code);
}
