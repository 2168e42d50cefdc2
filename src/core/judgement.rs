//! What the judge says about one guardrail at one check ([`Judgement`]) and the words it uses,
//! shared by `judge.rs` (threshold, baseline) and `judge_stats.rs` (PSI, sequential tests), so
//! neither imports the other.

use super::guardrail::Zone;
use super::observation::Observation;
use super::units;
use super::verdict::Verdict;
use crate::config::Guardrail;
use serde::Serialize;

/// A provider's answer to one query, or why there is none.
pub type Fetched = Result<Observation, FetchError>;

/// Why a query has no answer: its kind (from the provider's typed error, `metrics::ProviderError`,
/// or the loop's own reasons) and its words. Any of them makes the guardrail's verdict an error,
/// never a pass or a fail; the words are the judgement's detail and the query record's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    pub kind: FetchKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchKind {
    /// The query did not render (values known only at run time, such as revision names).
    Render,
    /// No provider of that name is available.
    NoProvider,
    /// The metrics source could not be reached or failed on its side (transport, 429, 5xx).
    Unreachable,
    /// The source refused the query (4xx, a query error, a provider misconfigured).
    Refused,
    /// The source answered something that is not what it documents.
    BadAnswer,
    /// Abandoned at a signal, or no answer before the rollout's deadline.
    Abandoned,
}

impl FetchError {
    pub fn new(kind: FetchKind, message: impl Into<String>) -> FetchError {
        FetchError {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FetchError {}

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
