//! The run record: everything one rollout decided and observed. Every report (step summary,
//! outputs, JSON decision record, JUnit) is a writer over this one value.

use crate::core::api_request::ApiRequest;
use crate::core::machine::{Event, Outcome};
use crate::core::traffic::Traffic;
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
    /// What the rollout was asked to do (stages, guardrail rules) and who it was (run id, roles).
    #[serde(flatten)]
    pub info: RunInfo,
}

/// The plan and rules a run was judged by, and its identity: what the reports need to explain a
/// decision without the config file.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunInfo {
    /// The run id stored on the live object (empty for dry runs, replays and simulations).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub run_id: String,
    /// When `traffic` was read back from the platform (Unix milliseconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_read_at: Option<i64>,
    /// The canary and stable names and revisions the platform reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revisions: Option<crate::core::traffic::Revisions>,
    /// Every phase of the plan, reached or not.
    pub plan: Vec<PlannedPhase>,
    /// Every guardrail's rule.
    pub guardrails: Vec<GuardrailRule>,
    /// Failed checks tolerated per guardrail (analysis.failureLimit).
    pub failure_limit: u32,
    /// Consecutive provider errors tolerated (analysis.errorLimit).
    pub error_limit: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedPhase {
    pub label: String,
    pub weight: u32,
    pub mirror: u32,
    pub checks: usize,
}

/// A guardrail's zones as data: the threshold values in the query's own scale (`%` applied).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardrailRule {
    pub name: String,
    pub kind: crate::config::GuardrailKind,
    /// The unit of `promote.value` / `rollback.value` and of the judged values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<crate::config::Unit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promote: Option<Threshold>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Threshold>,
    /// The rule in words, in its unit (`pass < 1% · roll back > 3%`).
    pub rule: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub critical: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Threshold {
    pub op: crate::config::Op,
    pub value: f64,
    /// A multiple of the stable version's value.
    pub relative: bool,
    /// As written in the config.
    pub text: String,
}

impl RunInfo {
    pub fn new(c: &crate::config::Config, plan: &crate::core::plan::Plan) -> RunInfo {
        use crate::core::plan::PhaseKind;
        let threshold = |t: &Option<crate::config::Condition>| {
            t.as_ref().map(|t| Threshold {
                op: t.op,
                value: t.value,
                relative: t.relative,
                text: t.text.clone(),
            })
        };
        RunInfo {
            plan: plan
                .stages
                .iter()
                .map(|s| {
                    let (weight, mirror) = match s.kind {
                        PhaseKind::Shadow { percent } => (0, percent),
                        PhaseKind::Traffic { weight } => (weight, 0),
                        PhaseKind::Compare => (0, 0),
                    };
                    PlannedPhase {
                        label: s.label(),
                        weight,
                        mirror,
                        checks: s.checks.len(),
                    }
                })
                .collect(),
            guardrails: c
                .guardrails
                .iter()
                .map(|g| GuardrailRule {
                    name: g.name.clone(),
                    kind: g.kind(),
                    unit: crate::core::units::judged_unit(g),
                    promote: threshold(&g.promote),
                    rollback: threshold(&g.rollback),
                    rule: crate::core::units::rule(g),
                    critical: g.critical,
                    dry_run: g.dry_run,
                })
                .collect(),
            failure_limit: c.analysis.failure_limit,
            error_limit: c.analysis.error_limit,
            ..Default::default()
        }
    }
}

impl RunRecord {
    /// A record of nothing (a base for writers that report a single fact).
    pub fn empty() -> RunRecord {
        RunRecord {
            name: String::new(),
            platform: String::new(),
            model_uri: String::new(),
            model_version: None,
            dry_run: false,
            started_at: 0,
            finished_at: 0,
            outcome: Outcome::Promoted,
            final_weight: 0,
            stage: String::new(),
            traffic: None,
            traffic_error: None,
            changed: false,
            compare: None,
            events: Vec::new(),
            queries: Vec::new(),
            requests: Vec::new(),
            warnings: Vec::new(),
            info: RunInfo::default(),
        }
    }
    /// The base of every record of a run of `c`: its model and plan, nothing done yet.
    pub fn of(c: &crate::config::Config, plan: &crate::core::plan::Plan) -> RunRecord {
        RunRecord {
            name: c.name.clone(),
            platform: c.target.platform.as_str().into(),
            model_uri: c.model.uri.clone(),
            model_version: c.model.version.clone(),
            info: RunInfo::new(c, plan),
            ..RunRecord::empty()
        }
    }

    pub fn duration_seconds(&self) -> i64 {
        ((self.finished_at - self.started_at) as f64 / 1000.0).round() as i64
    }
}
