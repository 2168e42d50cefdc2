//! A deterministic (seeded) traffic simulator of one rollout stage, as judge.md specifies it. Pure:
//! no clock, no I/O; the same seed gives the same scrapes. Used by the detection benchmark
//! (examples/detection_benchmark) and by the `simulate` command, which feeds [`Scrape`]s into the
//! real rollout loop.

pub mod counts;
pub mod rng;
pub mod scenario;
pub mod stream;

pub use counts::{CountScrape, CountStream};
pub use scenario::{
    scenario, shift_for_psi, sigma_for_p99, stable_model, ArmModel, Scenario, LATENCY_MEDIAN_S,
    SCENARIOS,
};
pub use stream::{ArmScrape, Scrape, StageStream, SCRAPE_SECONDS};
