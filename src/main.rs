use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = whipcode::cli::Cli::parse();
    match whipcode::server::main(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("whipcode: {e:#}");
            ExitCode::FAILURE
        }
    }
}
