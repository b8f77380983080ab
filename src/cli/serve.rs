//! `soundclass serve`: parse, load the model, serve.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::ConfigArgs;
use crate::error::{Error, Result};
use crate::predict::PredictOptions;
use crate::serve::{load_state, serve};
use crate::train::device::DeviceChoice;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A CNN run folder or a baseline model file (`<run>/models/<model>.json`).
    #[arg(long)]
    pub model: PathBuf,
    /// Address to listen on (default: `serve.addr`, 127.0.0.1:8080; port 0
    /// picks a free one and prints it).
    #[arg(long)]
    pub addr: Option<SocketAddr>,
    /// Limits come from the `[serve]` section: `--config FILE` and/or
    /// `--set serve.max_files=64`.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Window length, seconds (default: the model's training crop).
    #[arg(long)]
    pub window: Option<f64>,
    /// Hop between windows, seconds (default: the run's evaluation hop).
    #[arg(long)]
    pub hop: Option<f64>,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

pub fn execute(args: ServeArgs) -> Result<ExitCode> {
    let limits = args.config.load()?.serve;
    let addr = match args.addr {
        Some(addr) => addr,
        None => limits.addr.parse().map_err(|e| Error::ConfigValue {
            key: "serve.addr".into(),
            reason: format!("{e}"),
        })?,
    };
    let options = PredictOptions {
        window_seconds: args.window,
        hop_seconds: args.hop,
        middle_seconds: None,
        // Requests run side by side on the worker pool: one decoding
        // thread each keeps them from oversubscribing the cores.
        threads: 1,
    };
    let state = load_state(&args.model, args.device, limits, options)?;
    eprintln!("model: {}", state.description);
    serve(state, addr)?;
    Ok(ExitCode::SUCCESS)
}
