use std::process::ExitCode;

use clap::Parser;

fn run() -> anyhow::Result<ExitCode> {
    let cli = soundclass::cli::Cli::parse();
    Ok(soundclass::cli::execute(cli)?)
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
