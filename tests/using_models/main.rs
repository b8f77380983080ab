//! Using trained models: `predict`, `report`, `serve` (HTTP and a real
//! browser). One test binary for the four, so CI links one executable.

#[path = "../common/mod.rs"]
mod common;

mod browser;
mod predict;
mod report;
mod serve;
