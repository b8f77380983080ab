//! Hyperparameter sweeps: a spec (`experiments/*.toml`) expands into
//! trials, each a normal training run inside the sweep folder; the trial
//! table and the leaderboard are files, so a sweep resumes after any stop.
//!
//! Landed: grid and random search with repeats, spec checks against the
//! config, sequential local runs with exact resume, status, leaderboard
//! with mean ± std per point and marginal effects per parameter. Still to
//! come (issue 10): parallel workers, ASHA and median stopping, Slurm job
//! arrays, plots and the sweep-wide TensorBoard view.

pub mod leaderboard;
pub mod run;
pub mod space;
pub mod spec;

pub use run::{RunOptions, SweepDir, TrialRecord, TrialState, TrialTable};
pub use space::{trials, Trial};
pub use spec::SweepSpec;
