//! The run record: everything one rollout decided and observed. Every report (step summary,
//! outputs, JSON decision record, JUnit) is a writer over this one value.

use crate::core::machine::{Event, Outcome};
use crate::platform::{ApiRequest, Traffic};
use serde::Serialize;

/// One query as sent and what came back.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryRecord {
    /// Unix milliseconds.
    pub at: i64,
    pub phase: usize,
    pub check: usize,
    pub guardrail: String,
    pub role: crate::core::guardrail::Role,
    pub provider: String,
    /// The rendered query text.
    pub query: String,
    /// The request line the provider sends (no secrets).
    pub request: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    pub name: String,
    pub platform: String,
    pub model_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    pub dry_run: bool,
    pub started_at: i64,
    pub finished_at: i64,
    pub outcome: Outcome,
    /// The canary weight as last applied.
    pub final_weight: u32,
    /// The phase the rollout ended in (label).
    pub stage: String,
    /// Where traffic is, as the platform reported at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic: Option<Traffic>,
    /// Why the platform could not say where traffic is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_error: Option<String>,
    /// Whether this run (or the run it continued) changed anything on the platform. `false`:
    /// traffic is where it was before the run (dry runs, failures before the first write).
    pub changed: bool,
    pub events: Vec<Event>,
    pub queries: Vec<QueryRecord>,
    /// Every platform API request (dry runs).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<ApiRequest>,
    /// What went wrong without affecting the outcome (a webhook that failed). Never secrets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The prediction comparison phase's result (`compare:`), when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<crate::core::compare::Outcome>,
}

impl RunRecord {
    pub fn duration_seconds(&self) -> i64 {
        ((self.finished_at - self.started_at) as f64 / 1000.0).round() as i64
    }
}
