//! Using trained models: `predict`, `report`, `serve` (HTTP and a real
//! browser) and ensembles. One test binary for them all, so CI links one
//! executable.

#[path = "../common/mod.rs"]
mod common;

mod browser;
mod ensemble;
mod predict;
mod report;
mod serve;
