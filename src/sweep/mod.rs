//! Hyperparameter sweeps: a spec (`experiments/*.toml`) expands into
//! trials, each a normal training run inside the sweep folder; the trial
//! table and the leaderboard are files, so a sweep resumes after any stop.
//!
//! Landed: grid and random search with repeats, spec checks against the
//! config, local workers sharing a locked trial table, exact resume (also
//! from the middle of an epoch after SIGTERM or Ctrl-C), ASHA and the
//! median stopping rule, a decoded-audio cache shared by the trials,
//! status, leaderboard with mean ± std per point and marginal effects per
//! parameter, and plots (objective by parameter, learning curves of the
//! best trials), and Slurm job arrays (`sweep submit --slurm`).

pub mod leaderboard;
pub mod plots;
pub mod run;
pub mod slurm;
pub mod space;
pub mod spec;
pub mod stopping;
pub mod workers;

pub use leaderboard::top_trials;
pub use run::{RunOptions, SweepDir, TrialRecord, TrialState, TrialTable};
pub use space::{trials, Trial};
pub use spec::SweepSpec;
