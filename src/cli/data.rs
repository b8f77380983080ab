//! `soundclass data …`: parse the arguments, call [`crate::data`], print.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Subcommand};

use super::{print_json, ConfigArgs};
use crate::data::audioset::{self, ImportOptions, MultiPolicy, Ontology};
use crate::data::check::{check_manifest, CheckOptions, ValidateReport};
use crate::data::scan::{scan_tree, GroupBy};
use crate::data::stats::{format_stats_table, manifest_stats};
use crate::data::{Manifest, Split, SplitFractions};
use crate::error::{Error, Result};
use crate::util::absolute;

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Folder-per-class tree (class = first folder level) to a manifest with
    /// stratified, grouped splits.
    Scan(ScanArgs),
    /// AudioSet segment CSV + ontology to a manifest.
    ImportAudioset(ImportAudiosetArgs),
    /// Decode every clip and report unreadable, empty, silent or too-short ones.
    Validate(ValidateArgs),
    /// Clips, hours and duration quantiles per class and split.
    Stats(StatsArgs),
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    dir: PathBuf,
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 0.15)]
    val: f64,
    #[arg(long, default_value_t = 0.15)]
    test: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, value_enum, default_value_t = GroupBy::Parent)]
    group_by: GroupBy,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ImportAudiosetArgs {
    #[arg(long)]
    segments: PathBuf,
    #[arg(long)]
    ontology: PathBuf,
    #[arg(long)]
    audio_dir: PathBuf,
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "Speech,Music,Animal,Vehicle"
    )]
    classes: Vec<String>,
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_enum, default_value_t = MultiPolicy::Drop)]
    multi: MultiPolicy,
    /// File name of a segment's audio: {ytid} {start} {end} {start_ms} {end_ms}.
    #[arg(long, default_value = "{ytid}_{start}.wav")]
    path_template: String,
    /// Split written for the imported clips.
    #[arg(long, default_value = "train")]
    split: String,
    /// Fraction of clips carved out as `val` (stratified).
    #[arg(long, default_value_t = 0.0)]
    val: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Keep rows whose audio file is not there (yet).
    #[arg(long)]
    keep_missing: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    manifest: PathBuf,
    #[command(flatten)]
    config: ConfigArgs,
    /// Exit 0 even when bad clips are found.
    #[arg(long)]
    allow_bad: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    manifest: PathBuf,
    #[arg(long)]
    json: bool,
}

pub fn execute(command: DataCommand) -> Result<ExitCode> {
    match command {
        DataCommand::Scan(args) => scan(args),
        DataCommand::ImportAudioset(args) => import_audioset(args),
        DataCommand::Validate(args) => validate(args),
        DataCommand::Stats(args) => stats(args),
    }
}

/// The folder a manifest at `out` will live in: its paths are relative to it.
fn manifest_dir(out: &Path) -> PathBuf {
    absolute(out)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn scan(args: ScanArgs) -> Result<ExitCode> {
    let manifest = scan_tree(
        &args.dir,
        &manifest_dir(&args.out),
        SplitFractions::new(args.val, args.test)?,
        args.seed,
        args.group_by,
    )?;
    manifest.write(&args.out)?;
    let count = |split: Split| manifest.clips.iter().filter(|c| c.split == split).count();
    if args.json {
        print_json(&serde_json::json!({
            "manifest": args.out,
            "clips": manifest.clips.len(),
            "classes": manifest.labels(),
            "train": count(Split::Train),
            "val": count(Split::Val),
            "test": count(Split::Test),
        }))?;
    } else {
        println!(
            "wrote {} clips of {} classes to {} (train {}, val {}, test {})",
            manifest.clips.len(),
            manifest.labels().len(),
            args.out.display(),
            count(Split::Train),
            count(Split::Val),
            count(Split::Test)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn import_audioset(args: ImportAudiosetArgs) -> Result<ExitCode> {
    let split: Split = args.split.parse().map_err(Error::InvalidArgument)?;
    let segments = audioset::read_segments(&args.segments)?;
    let ontology = Ontology::load(&args.ontology)?;
    let options = ImportOptions {
        classes: args.classes,
        audio_dir: args.audio_dir,
        manifest_dir: manifest_dir(&args.out),
        path_template: args.path_template,
        multi: args.multi,
        split,
        val_fraction: args.val,
        seed: args.seed,
        keep_missing: args.keep_missing,
    };
    let (manifest, report) = audioset::import(&segments, &ontology, &options)?;
    manifest.write(&args.out)?;
    if args.json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} segments in {}",
        report.segments,
        args.segments.display()
    );
    for (class, n) in &report.single {
        println!("  {class:<12} {n:>7}");
    }
    println!("  {:<12} {:>7}", "multi-class", report.multi);
    println!("  {:<12} {:>7}", "none", report.none);
    println!(
        "missing audio files: {}; dropped: {}; wrote {} rows to {}",
        report.missing_audio,
        report.dropped,
        report.written,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Exit 1 when bad clips are found, unless `--allow-bad`.
fn validate(args: ValidateArgs) -> Result<ExitCode> {
    let config = args.config.load()?;
    let started = Instant::now();
    let manifest = Manifest::load(&args.manifest)?;
    let options = CheckOptions {
        min_seconds: config.data.min_seconds,
        silence_dbfs: config.data.silence_dbfs,
        classes: config.data.classes.clone(),
    };
    let checks = check_manifest(&manifest, &options, args.json);
    let report = ValidateReport::new(&args.manifest, checks, started.elapsed().as_secs_f64());
    if args.json {
        print_json(&report)?;
    } else {
        print!("{}", report.to_text());
    }
    Ok(if report.bad.is_empty() || args.allow_bad {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn stats(args: StatsArgs) -> Result<ExitCode> {
    let manifest = Manifest::load(&args.manifest)?;
    let (stats, errors) = manifest_stats(&manifest, args.json);
    if args.json {
        print_json(&serde_json::json!({
            "manifest": args.manifest, "stats": stats, "unreadable": errors,
        }))?;
    } else {
        print!("{}", format_stats_table(&stats));
        for e in &errors {
            eprintln!("skipped: {e}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
