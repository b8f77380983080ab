//! Hyperparameter sweeps: a spec (`experiments/*.toml`) expands into
//! trials, each a normal training run inside the sweep folder; the trial
//! table and the leaderboard are files, so a sweep resumes after any stop.
//!
//! Landed: grid and random search with repeats, spec checks against the
//! config, local workers sharing a locked trial table, exact resume, ASHA
//! and the median stopping rule, status, leaderboard with mean ± std per
//! point and marginal effects per parameter. Still to come (issue 10):
//! SIGTERM at a step boundary, Slurm job arrays, a decoded-audio cache
//! shared by trials, plots.

pub mod leaderboard;
pub mod run;
pub mod space;
pub mod spec;
pub mod stopping;

pub use run::{RunOptions, SweepDir, TrialRecord, TrialState, TrialTable};
pub use space::{trials, Trial};
pub use spec::SweepSpec;
