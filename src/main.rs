use std::process::ExitCode;

use clap::Parser;

fn run() -> anyhow::Result<ExitCode> {
    let cli = soundclass::cli::Cli::parse();
    Ok(soundclass::cli::execute(cli)?)
}

fn main() -> ExitCode {
    // Burn builds some state on its default device (optimizer state read
    // from a checkpoint, before the first step moves it to the training
    // device). Left alone that is the GPU runtime, which would then already
    // be initialised when `--device` asks for it with our options; the CPU
    // backend is the harmless choice. Set here, before any thread exists.
    if std::env::var_os("BURN_DEVICE").is_none() {
        std::env::set_var("BURN_DEVICE", "flex");
    }
    match run() {
        Ok(code) => code,
        Err(e) => {
            // A stop on request is not a failure: its work is saved.
            if let Some(soundclass::Error::Interrupted { exit_status, .. }) = e.downcast_ref() {
                eprintln!("{e:#}");
                return ExitCode::from(*exit_status);
            }
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
