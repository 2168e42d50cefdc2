//! Where traffic is and which names it goes to, as a platform reports them. Platforms produce
//! these; the run record, the reports and the template context read them.

use std::collections::BTreeMap;

/// Where traffic is, as the platform reports it: deployment/revision name -> percent.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Traffic {
    pub split: BTreeMap<String, u32>,
    /// Mirrored (shadow) traffic, where the platform has it.
    pub mirror: BTreeMap<String, u32>,
}

/// Names the templates and queries see as `canary` / `stable`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Revisions {
    pub canary_name: String,
    pub canary_revision: Option<String>,
    pub stable_name: String,
    pub stable_revision: Option<String>,
}
