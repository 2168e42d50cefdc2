//! Statistics for guardrails: always-valid sequential tests, PSI, special functions.
//!
//! Why sequential: a guardrail is checked every interval, and a fixed-sample test checked that often
//! rolls back healthy canaries (see docs/benchmark.md). Every test here is a nonnegative
//! (super)martingale under "the canary is within tolerance", so by Ville's inequality its chance of
//! ever reaching 1/alpha is at most alpha however often it is looked at. See docs/statistics.md.
//!
//! Everything is pure: observations in, [`SeqOutcome`] out. State (running evidence, confidence
//! sequences, alpha spent on earlier stages) lives in the test structs the caller keeps per guardrail.

pub mod distribution;
pub mod interval;
pub mod msprt;
pub mod psi;
pub mod rate;
pub mod special;
pub mod spending;
#[cfg(test)]
mod validity;

pub use distribution::{DistributionParams, DistributionTest};
pub use msprt::MeanTest;
pub use psi::{psi, psi_sample_too_small, Psi};
pub use rate::{slow_counts, RateTest};

use crate::core::verdict::Verdict;

/// Events and exposure of one arm since the stage began (e.g. 5xx responses and requests).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Counts {
    pub events: f64,
    pub total: f64,
}

/// What one sequential guardrail says at one check.
#[derive(Debug, Clone, PartialEq)]
pub struct SeqOutcome {
    /// Fail: the test rejected "within tolerance". Hold: no data yet / sample too small / between
    /// zones. Pass: no evidence of harm (a fixed schedule may advance).
    pub verdict: Verdict,
    /// `true` when the confidence sequence proves the canary within tolerance: what
    /// `advanceEarly: true` waits for on every guardrail before ending a stage early. Never true
    /// when the interval is inconsistent or does not hold the estimate.
    pub proven_safe: bool,
    /// The stage's confidence sequence is consistent (its running intersection is non-empty and
    /// holds the estimate); false means the model does not fit the data and nothing is proven.
    pub consistent: bool,
    /// Always-valid p-value over the whole rollout so far (running minimum, never increases).
    pub p_value: f64,
    /// Point estimate (rate ratio canary/stable, latency ratio, chance-corrected PSI).
    pub estimate: f64,
    /// Confidence sequence for the estimate at the current stage's alpha (running intersection).
    pub lower: f64,
    pub upper: f64,
    /// One human sentence for the report.
    pub detail: String,
}

impl SeqOutcome {
    /// No verdict yet (no data, too little data): the p-value so far and, when the test keeps
    /// one, the stage's interval as it stands.
    pub(crate) fn hold(
        p_value: f64,
        cs: Option<&interval::RunningInterval>,
        detail: String,
    ) -> Self {
        SeqOutcome {
            verdict: Verdict::Hold,
            proven_safe: false,
            consistent: cs.is_none_or(|cs| !cs.inconsistent),
            p_value,
            estimate: f64::NAN,
            lower: cs.map_or(f64::NAN, |cs| cs.lower),
            upper: cs.map_or(f64::NAN, |cs| cs.upper),
            detail,
        }
    }
}

/// Parameters of a sequential guardrail (`sequential:` block of config.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SequentialParams {
    /// False-rollback bound over the WHOLE rollout for this guardrail.
    pub alpha: f64,
    /// Acceptable degradation as a ratio: 1.1 = a canary up to 10% worse is fine.
    pub tolerance: f64,
    /// Concentration k of the Beta mixing prior of rate tests. Smaller k = tuned for larger
    /// effects; 30 is what docs/benchmark.md measured best for 2x-5x regressions (judge.md: ~100).
    /// Not used by [`MeanTest`] (its mixing sd is `tau`).
    pub prior_strength: f64,
    /// Stages the rollout will compare canary and stable in (weights below 100). Alpha is split
    /// equally over them; 0 = unknown: stage j gets 6/(pi^2 (j+1)^2) of alpha.
    pub stages: usize,
    /// The ratio `proven_safe` (hence advanceEarly) must prove the canary below; 0 = `tolerance`.
    /// Proving "within 1.1x" of a 1% error rate takes ~100k canary requests, so a stage that
    /// should end early at ordinary traffic needs a looser bound here (e.g. 1.5) while `tolerance`
    /// keeps rollbacks sensitive. See docs/statistics.md, "advanceEarly".
    pub prove_within: f64,
}

impl SequentialParams {
    /// The bound `proven_safe` uses.
    pub fn safe_bound(&self) -> f64 {
        if self.prove_within > 0.0 {
            self.prove_within
        } else {
            self.tolerance
        }
    }
}

impl Default for SequentialParams {
    fn default() -> Self {
        SequentialParams {
            alpha: 0.05,
            tolerance: 1.1,
            prior_strength: 30.0,
            stages: 0,
            prove_within: 0.0,
        }
    }
}
