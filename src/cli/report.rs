//! `soundclass report`: parse, call [`crate::report`], print.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::error::Result;
use crate::report::build_report;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// CNN run folders, baseline run folders and sweep folders.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Folder for index.html, report.md and img/.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub json: bool,
}

pub fn execute(args: ReportArgs) -> Result<ExitCode> {
    let output = build_report(&args.inputs, &args.out)?;
    if args.json {
        super::print_json(&output)?;
    } else {
        eprintln!(
            "{} models, {} sweeps, {} images: open {} (or read {})",
            output.models,
            output.sweeps,
            output.images.len(),
            output.html.display(),
            output.markdown.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
