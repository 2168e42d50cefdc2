//! mlcanary: roll a new ML model version out gradually, judge guardrail metrics between stages,
//! promote or roll back, and report. The binary is a thin shell over this library.
//!
//! Layers (outside in): `config` (the contract, plain data) -> `core` (pure decisions and the
//! vocabulary every layer shares) -> `platform` / `metrics` (one file per back-end behind a small
//! trait) -> `clients` (network edges), with `render` (templates), `report` (writers over one run
//! record) and `notify` beside them. No module imports a layer above it; `layering_tests` checks
//! that `core`, `report` and `notify` never import the loop or the back-ends
//! (docs/architecture.md).

pub mod cli;
pub mod clients;
pub mod commands;
pub mod config;
pub mod core;
pub mod metrics;
pub mod notify;
pub mod platform;
pub mod render;
pub mod report;
pub mod rollout;

#[cfg(test)]
mod layering_tests;
