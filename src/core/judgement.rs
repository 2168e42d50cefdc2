//! What the judge says about one guardrail at one check ([`Judgement`]) and the words it uses,
//! shared by `judge.rs` (threshold, baseline) and `judge_stats.rs` (PSI, sequential tests), so
//! neither imports the other.

use super::guardrail::Zone;
use super::observation::Observation;
use super::units;
use super::verdict::Verdict;
use crate::config::Guardrail;
use serde::Serialize;

/// A provider's answer to one query, or why it failed (already in words).
pub type Fetched = Result<Observation, String>;

/// What one guardrail said at one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Judgement {
    pub guardrail: String,
    pub verdict: Verdict,
    pub zone: Zone,
    /// The number compared with the zones (value, ratio, corrected PSI, rate ratio).
    pub value: Option<f64>,
    /// One sentence: what was compared and why this verdict.
    pub detail: String,
    /// Test statistics (p-value, confidence bounds, raw PSI, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub critical: bool,
    /// A sequential test proved the canary within tolerance (what advanceEarly waits for).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub proven: bool,
    /// Judged by a sequential test (only these can prove a canary safe).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sequential: bool,
}

pub fn zone_words(z: Zone, g: &Guardrail) -> String {
    let unit = units::judged_unit(g);
    let words = |c: &Option<crate::config::Condition>| {
        c.as_ref()
            .map_or_else(|| "-".to_string(), |c| units::condition(c, unit))
    };
    let (p, r) = (words(&g.promote), words(&g.rollback));
    match z {
        Zone::Promote => format!("in the promote zone ({p})"),
        Zone::Between => format!("between zones (promote {p}, rollback {r})"),
        Zone::Rollback => format!("in the rollback zone ({r})"),
        Zone::NoData => "no data".into(),
        Zone::Error => "error".into(),
    }
}

/// Numbers for people (see [`units::sig`]).
pub fn fmt_num(v: f64) -> String {
    units::sig(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_for_people() {
        assert_eq!(fmt_num(0.005), "0.005");
        assert_eq!(fmt_num(1.23456), "1.23");
        assert_eq!(fmt_num(250.0), "250");
        assert_eq!(fmt_num(0.00001234), "1.2e-5");
        assert_eq!(fmt_num(f64::INFINITY), "+Inf");
    }
}
