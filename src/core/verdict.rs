//! What one guardrail says at one check.

use serde::Serialize;

/// The four outcomes of `config.md`'s Decisions section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Inside the promote zone (or proven within tolerance).
    Pass,
    /// Between zones, not enough evidence yet, or no data with `noData: inconclusive`.
    Hold,
    /// Inside the rollback zone (or a sequential test rejected).
    Fail,
    /// The provider failed.
    Error,
}
